"""The Allure HTML report renders: generated from the run's results with the Makefile's
command line, served on 127.0.0.1 and opened in a headless Chromium, it shows what the run
found: the number of test cases, each scenario with its outcome, a failure's message, and
a screenshot (reports/allure-report.png) with the outcomes in their colours.

It runs last in ``make test``, on the reports/allure-results the lab tests before it wrote;
it boots nothing.
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import shutil
import struct
import subprocess
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.lab

RESULTS = ROOT / "reports" / "allure-results"
SCREENSHOT = ROOT / "reports" / "allure-report.png"
WIDTH, HEIGHT = 1400, 1000
STATUSES = ("failed", "broken", "passed", "skipped", "unknown")  # Allure's order


def tools() -> tuple[Path, str]:
    """The Allure command line (as the Makefile's $(ALLURE)) and Chromium, or a skip."""
    allure = Path(os.environ.get("ALLURE", "node_modules/.bin/allure"))
    allure = allure if allure.is_absolute() else ROOT / allure
    if not os.access(allure, os.X_OK):
        pytest.skip(f"Allure command line not found at {allure} (npm; make test installs it)")
    if shutil.which("java") is None:
        pytest.skip("java not found: the Allure command line needs it (default-jre-headless)")
    name = os.environ.get("XENACCEPT_CHROMIUM", "chromium-headless-shell")
    chromium = shutil.which(name)
    if chromium is None:
        pytest.skip(f"{name} not found: it renders the report (apt: chromium-headless-shell)")
    return allure, chromium


def expected_results(results: Path) -> list[dict]:
    """The test cases the report must show: per historyId the latest result (Allure shows
    earlier ones as retries of it)."""
    latest: dict[str, dict] = {}
    for f in results.glob("*-result.json"):
        r = json.loads(f.read_text())
        key = r.get("historyId") or r["uuid"]
        if key not in latest or r.get("start", 0) >= latest[key].get("start", 0):
            latest[key] = r
    return list(latest.values())


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """``directory`` over HTTP on 127.0.0.1, a free port (the report loads its data by XHR,
    which file:// URLs refuse)."""
    handler = functools.partial(_Quiet, directory=str(directory))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
        finally:
            server.shutdown()
            thread.join(10)


def browse(chromium: str, profile: Path, url: str, *args: str) -> str:
    """One headless Chromium run on ``url``; its stdout. The virtual time budget lets the
    app load its data and render; every host name resolves to nothing (the report links an
    analytics script), so the browser reaches only the local server."""
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--user-data-dir={profile}",
           "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
           "--virtual-time-budget=15000", f"--window-size={WIDTH},{HEIGHT}", *args, url]
    p = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8",
                       errors="replace", timeout=60)
    assert p.returncode == 0, f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-3000:]}"
    return p.stdout


def visible_text(dom: str) -> str:
    dom = re.sub(r"<(script|style)\b[^>]*>.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", dom))).strip()


def tree_leaves(dom: str) -> list[tuple[str, str, str]]:
    """(name, status, link) of each test case in a rendered tree (Suites, Behaviors)."""
    leaves = []
    for m in re.finditer(r'<a class="node node__leaf"[^>]*href="([^"]*)"[^>]*>(.*?)</a>',
                         dom, re.S):
        status = re.search(r"status-icon_status_(\w+)", m.group(2))
        name = re.search(r'class="node__name[^"]*">(.*?)</div>', m.group(2), re.S)
        leaves.append((html.unescape(name.group(1)).strip() if name else "?",
                       status.group(1) if status else "?", html.unescape(m.group(1))))
    return leaves


def png_pixels(data: bytes) -> tuple[int, int, Counter[bytes]]:
    """Width, height and the RGB colour histogram of an 8-bit, non-interlaced RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    assert header, "PNG without IHDR"
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unexpected PNG {header}"
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    assert len(raw) == height * (stride + 1), "truncated PNG data"
    prev, colours = bytearray(stride), Counter()
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:    # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:  # Up
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + (left + prev[i]) // 2) & 255
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc
                                      else c)) & 255
        else:
            assert kind == 0, f"PNG filter {kind} in row {y}"
        colours.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp))
        prev = line
    return width, height, colours


def status_colours(report: Path) -> dict[str, bytes]:
    """The day theme's chart colour of each status, read from the report's own styles."""
    styles = "".join(f.read_text(errors="replace") for f in (report / "assets").iterdir()
                     if f.suffix in (".js", ".css"))
    colours = {}
    for status in STATUSES:
        var = re.search(
            rf"--color-status-{status}-chart-fill:var\(--(palette-[\w-]*day[\w-]*)\)", styles)
        value = var and re.search(rf"--{var.group(1)}:#([0-9a-fA-F]{{6}})\b", styles)
        assert value, f"no day chart colour for {status} in the report's styles"
        colours[status] = bytes.fromhex(value.group(1))
    return colours


def test_allure_report_renders_the_run(tmp_path: Path) -> None:
    allure, chromium = tools()
    if not any(RESULTS.glob("*-result.json")):
        pytest.skip(f"no Allure results in {RESULTS} (the lab tests write them)")
    results = tmp_path / "allure-results"  # a snapshot: what is generated is what is expected
    shutil.copytree(RESULTS, results)
    expected = expected_results(results)
    want = Counter((r["name"], r["status"]) for r in expected)
    counts = Counter(r["status"] for r in expected)

    report = tmp_path / "allure-report"
    p = subprocess.run([str(allure), "generate", "--clean", "-o", str(report), str(results)],
                       cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0 and (report / "index.html").is_file(), \
        f"allure generate: exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    profile = tmp_path / "chromium"

    with serve(report) as url:
        # The overview a reader lands on: the number of test cases.
        overview = visible_text(browse(chromium, profile, url, "--dump-dom"))
        shown = re.search(r"(\d+) test cases?\b", overview)
        assert shown, f"no test case count on the overview (not rendered?): {overview[:500]!r}"
        assert int(shown.group(1)) == len(expected), \
            f"overview: {shown.group(0)!r}, the results hold {len(expected)} test cases"

        # Suites: every scenario of the run, with its outcome, and the status counts.
        suites = browse(chromium, profile, url + "#suites", "--dump-dom")
        leaves = tree_leaves(suites)
        got = Counter((name, status) for name, status, _ in leaves)
        assert got == want, (f"Suites shows other scenarios or outcomes than the results:\n"
                             f"  missing: {sorted((want - got).elements())}\n"
                             f"  unexpected: {sorted((got - want).elements())}")
        toggles = {s: int(n) for s, n in
                   re.findall(r'data-status="(\w+)"[^>]*>(\d+)<', suites)}
        assert toggles == {s: counts[s] for s in STATUSES}, \
            f"Suites status counts {toggles}, the results: {dict(counts)}"

        # A scenario that did not pass: its page shows the failure's message.
        failing = [r for r in expected if r["status"] in ("failed", "broken")
                   and (r.get("statusDetails") or {}).get("message", "").strip()]
        if failing:
            name, status = failing[0]["name"], failing[0]["status"]
            link = next(ln for n, s, ln in leaves if (n, s) == (name, status))
            page = browse(chromium, profile, url + link, "--dump-dom")
            shown_messages = [html.unescape(m).strip() for m in re.findall(
                r'class="status-details__message[^"]*"><code>(.*?)</code>', page, re.S)]
            messages = {r["statusDetails"]["message"].strip() for r in failing
                        if (r["name"], r["status"]) == (name, status)}
            assert shown_messages and shown_messages[0] in messages, \
                f"{name} ({status}): its page shows {shown_messages!r}, not of {messages!r}"

        # What a reader sees: the overview, with the outcomes in their colours.
        shot = tmp_path / SCREENSHOT.name
        browse(chromium, profile, url, f"--screenshot={shot}")
    assert shot.is_file(), f"Chromium wrote no screenshot at {shot}"
    shutil.copyfile(shot, SCREENSHOT)
    width, height, colours = png_pixels(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT), f"screenshot is {width}x{height}"
    assert len(colours) >= 16, f"screenshot nearly blank: {len(colours)} colours"
    palette = status_colours(report)
    for status in STATUSES:
        if counts[status]:
            assert colours[palette[status]] >= 20, (
                f"{counts[status]} {status} test case(s), but the screenshot has "
                f"{colours[palette[status]]} pixels of {status}'s colour "
                f"#{palette[status].hex()}: the charts are not rendered")
