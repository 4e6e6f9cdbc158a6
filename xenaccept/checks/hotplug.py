"""4. Plugging vifs: the hotplug scripts there and parsing, one xl devd running."""

from __future__ import annotations

from xenaccept.checks.context import Context
from xenaccept.errors import CheckFailed


def hotplug_scripts(setup: Context, script: str) -> list[str]:
    """``script`` present and executable (the toolstack runs it); every helper it sources,
    transitively, present (they are sourced, so Debian ships them mode 644)."""
    hp = setup.drvdom.hotplug
    main, *helpers = hp.states(hp.closure(script))
    bad = [] if main.executable else [
        f"{main.path} ({'not executable' if main.present else 'missing'})"]
    bad += [f"{h.path} (missing)" for h in helpers if not h.present]
    if bad:
        raise CheckFailed("hotplug scripts",
                          f"{script} executable and the helpers it sources present",
                          "; ".join(bad))
    return [s.path for s in (main, *helpers)]


def hotplug_scripts_parse(setup: Context, script: str) -> None:
    """bash parses ``script`` and every helper it sources (``bash -n``: nothing runs). A
    script with a syntax error is there and executable, yet plugs no vif: the toolstack
    waits for its hotplug-status, which never comes."""
    hp = setup.drvdom.hotplug
    names = [st.path.rsplit("/", 1)[1] for st in hp.states(hp.closure(script)) if st.present]
    errors = hp.syntax_errors(names)
    if errors:
        raise CheckFailed(f"bash -n on {script} and its helpers",
                          "no syntax error",
                          "; ".join(f"{hp.dir}/{n}: {e or 'refused'}"
                                    for n, e in errors.items()))


def one_devd(setup: Context) -> int:
    pids = setup.drvdom.hotplug.devd_pids()
    if len(pids) != 1:
        raise CheckFailed("processes in the driver domain", "exactly one `xl devd`",
                          f"{len(pids)}" + (f" (pids {pids})" if pids else ""))
    return pids[0]


STOPPED = {"T": "stopped (by a signal: it handles no event until SIGCONT)",
           "t": "stopped by a debugger", "Z": "a zombie (exited, not reaped)",
           "X": "dead"}


def devd_alive(setup: Context) -> None:
    """The one xl devd is not stopped, traced or dead: a stopped daemon is still listed
    by ps, but plugs nothing."""
    pid = one_devd(setup)
    stat = setup.drvdom.hotplug.process_states().get(pid, "")
    if not stat or stat[0] in STOPPED:
        raise CheckFailed(f"xl devd (pid {pid}) in the driver domain",
                          "running or sleeping (ps state R or S)",
                          f"state {stat or 'gone'}: "
                          f"{STOPPED.get(stat[:1], 'no longer there') if stat else 'gone'}")
