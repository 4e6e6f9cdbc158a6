#!/usr/bin/env python3
"""Benchmark of the harness's own cost, on the lab (not a test: it prints and writes a table).

    make bench          # needs the lab up with the setup provisioned (it makes one if not)

(a) check-mode overhead: wall time of a check run against the summed run time of the remote
    commands it sent (the ratio is the harness overhead; goal <= 1.15);
(b) provisioning waits: for every wait of a provisioning run, the most the condition can
    have been true before the suite noticed (goal <= 2 s);
(c) check mode against N = 1, 2, 4 targets in parallel (pytest-xdist, one worker a target):
    the lab's Dom0 and driver domain reached through distinct local TCP relays, one pair of
    ports per target (goal: 4 targets <= 1.3 x one).
Writes reports/bench.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the library beside it
    sys.path.insert(0, str(ROOT))
from xenaccept.model import inventory, state  # noqa: E402
INVENTORY = inventory.lab_inventory(ROOT)   # the instance lab/xenlab booted ($XENLAB_NAME)
REPORTS = ROOT / "reports"


# the runs as an operator's shell makes them: Python caches its bytecode (a machine that
# sets PYTHONDONTWRITEBYTECODE compiles every module of pytest, its plugins and the suite
# again at each run: about 0.25 s more of a check run's wall on this machine)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
BYTECODE = "PYTHONDONTWRITEBYTECODE" in os.environ


def pytest(*args: str) -> tuple[float, dict]:
    start = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", *args],
                       cwd=ROOT, text=True, capture_output=True, timeout=3600, env=ENV)
    wall = time.monotonic() - start
    run = json.loads((REPORTS / "run.json").read_text())
    if p.returncode not in (0, 1):
        raise SystemExit(f"pytest failed to run ({p.returncode}):\n{p.stdout[-3000:]}")
    return wall, run


class Relays:
    """Local TCP relays 127.0.0.1:<new port> -> 127.0.0.1:<port>, in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def add(self, port: int) -> int:
        async def pipe(reader, writer):  # type: ignore[no-untyped-def]
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            finally:
                writer.close()

        async def handle(reader, writer):  # type: ignore[no-untyped-def]
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.gather(pipe(reader, w2), pipe(r2, writer), return_exceptions=True)

        async def start() -> int:
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            return server.sockets[0].getsockname()[1]

        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)


def multi_inventory(n: int, relays: Relays, tmp: Path) -> Path:
    data = yaml.safe_load(INVENTORY.read_text())
    base = data["targets"][0]
    # Dom0's host key from the lab's known_hosts; the driver domain's (the suite built it)
    # from the suite's own state for the lab's target, with the run's key
    drvdom = state.keys_for(base["name"])
    known = Path(base["dom0"]["known_hosts"]).read_text().splitlines() + \
        drvdom.known_hosts.read_text().splitlines()
    keys = {line.split()[0]: line.split(None, 1)[1] for line in known if line.strip()}
    lines, targets = [], []
    for i in range(n):
        t = json.loads(json.dumps(base))
        t["name"] = f"{base['name']}-via-{i + 1}"
        t["driver_domain"]["ssh"]["key_file"] = str(drvdom.key_file)
        if i and "lan" in t:  # the same guests, probed once: one LAN peer on the lab's port
            t["lan"] = "none"
        for ssh in (t["dom0"], t["driver_domain"]["ssh"]):
            key = keys[f"[{ssh['host']}]:{ssh['port']}"]
            ssh["port"] = relays.add(ssh["port"])
            ssh["known_hosts"] = str(tmp / "known_hosts")
            lines.append(f"[127.0.0.1]:{ssh['port']} {key}")
        targets.append(t)
    (tmp / "known_hosts").write_text("\n".join(lines) + "\n")
    path = tmp / f"inventory-{n}.yaml"
    path.write_text(yaml.safe_dump({"targets": targets}))
    return path


def outcomes(run: dict) -> str:
    counts: dict[str, int] = {}
    for outcome in run["results"].values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))


def main() -> int:
    if not INVENTORY.exists():
        raise SystemExit("the lab is not up: make lab-up")
    rows: list[str] = []
    detail: list[str] = []
    # (b) a provisioning run that keeps its setup, for the waits and for (a) and (c)
    wall, run = pytest("--provision", "--keep")
    waits = run.get("waits", [])
    worst = max((w["notice_bound"] for w in waits), default=0.0)
    rows.append(f"| (b) provisioning ({wall:.0f} s, {outcomes(run)}): {len(waits)} waits, "
                f"longest notice delay bound | {worst:.2f} s | <= 2 s | "
                f"{'met' if worst <= 2 else 'NOT met'} |")
    detail += ["", "### (b) every wait of the provisioning run", "",
               "| wait | took | polls | notice delay bound | of which the successful poll |",
               "|---|---|---|---|---|"]
    detail += [f"| {w['what']} | {w['took']:.1f} s | {w['polls']} | {w['notice_bound']:.2f} s "
               f"| {w.get('last_probe', 0.0):.2f} s |" for w in waits]
    # (a) check mode against the kept setup
    wall, run = pytest()
    remote = sum(run["remote_seconds"].values())
    ratio = wall / remote if remote else float("inf")
    rows.append(f"| (a) check mode ({outcomes(run)}): wall {wall:.1f} s / remote commands "
                f"{remote:.1f} s | {ratio:.2f} | <= 1.15 | {'met' if ratio <= 1.15 else 'NOT met'} |")
    sent = {t: c["sent"] for t, c in run.get("commands", {}).items()}
    rows.append(f"| (a) check mode: wall time, commands sent (reused answers not counted: "
                f"{sent}) | {wall:.1f} s | <= 20 s | {'met' if wall <= 20 else 'NOT met'} |")
    conns = run["connections"]
    # (c) N targets in parallel
    relays = Relays()
    tmp = REPORTS / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    walls = {}
    detail += ["", "### (c) the N targets are one lab", "",
               "| N | wall | longest target's remote commands | wall / that | "
               "summed remote commands of all targets | targets' sessions: longest / "
               "from the first start to the last end | processes |",
               "|---|---|---|---|---|---|---|"]
    for n in (1, 2, 4):
        inv = multi_inventory(n, relays, tmp)
        walls[n], run_n = pytest(f"--inventory={inv}", "-n", str(n), "--dist", "loadgroup")
        longest = max(run_n["remote_seconds"].values())
        rows.append(f"| (c) check mode, {n} target(s) in parallel ({outcomes(run_n)}) | "
                    f"{walls[n]:.1f} s ({walls[n] / walls[1]:.2f} x one) | 4: <= 1.3 x | "
                    f"{'met' if walls[n] <= 1.3 * walls[1] else 'NOT met'} |")
        spans = run_n.get("spans", [])
        session = max((sp["end"] - sp["start"] for sp in spans), default=0.0)
        union = (max(sp["end"] for sp in spans) - min(sp["start"] for sp in spans)) \
            if spans else 0.0
        detail.append(f"| {n} | {walls[n]:.1f} s | {longest:.1f} s | "
                      f"{walls[n] / longest:.2f} | {sum(run_n['remote_seconds'].values()):.1f} s "
                      f"| {session:.1f} s / {union:.1f} s | "
                      f"{len({sp['process'] for sp in spans})} |")
    subprocess.run([sys.executable, "-m", "xenaccept", "teardown", f"--inventory={INVENTORY}"],
                   cwd=ROOT, timeout=600, check=False)
    if BYTECODE:
        detail = ["", "PYTHONDONTWRITEBYTECODE is set here: the runs were made without it "
                  "(Python's default), as an operator's shell makes them."] + detail
    table = ("| measure | value | goal | |\n|---|---|---|---|\n" + "\n".join(rows) +
             f"\n\nSSH connections per host in the check run: {conns}\n" + "\n".join(detail)
             + "\n")
    (REPORTS / "bench.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
