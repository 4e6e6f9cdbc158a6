"""The SSH hop chain's guard for paramiko's transport thread (no AST parse while logging)."""
from __future__ import annotations

import ast
import gc
import threading
import time

import paramiko
import pytest

from xenaccept.transport import hops


def _fail() -> None:
    raise paramiko.SSHException("Error reading SSH protocol banner")


def test_transport_thread_traceback_needs_no_ast_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parse(*_a: object, **_k: object) -> None:
        raise AssertionError("ast.parse called from the transport's traceback")

    monkeypatch.setattr(ast, "parse", no_parse)
    try:
        _fail()
    except paramiko.SSHException:
        lines = paramiko.util.tb_strings()
    assert paramiko.util.tb_strings is hops.tb_lines
    assert lines[0] == "Traceback (most recent call last):"
    assert any("in _fail" in line for line in lines)
    assert lines[-1] == "paramiko.ssh_exception.SSHException: Error reading SSH protocol banner"


class _Finalised:
    def __del__(self) -> None:
        time.sleep(0)                   # a finaliser run by the GC inside ast.parse yields


def _garbage() -> None:
    for _ in range(50):
        a, b = _Finalised(), _Finalised()
        a.other, b.other = b, a         # type: ignore[attr-defined]


def test_transport_threads_logging_beside_pytest_parsing_do_not_crash() -> None:
    """The race of gh-106905 as the suite met it: transport threads logging failures while
    the main thread parses source (pytest formatting a failed step). With paramiko's own
    tb_strings this stopped within 4-13 turns on this machine (``SystemError: AST
    constructor recursion depth mismatch``)."""
    stop = threading.Event()

    def log_failures() -> None:
        while not stop.is_set():
            try:
                _fail()
            except paramiko.SSHException:
                paramiko.util.tb_strings()

    threads = [threading.Thread(target=log_failures) for _ in range(2)]
    for t in threads:
        t.start()
    threshold = gc.get_threshold()
    gc.set_threshold(50)
    source = "x = " + "(" * 80 + "1" + ")" * 80
    try:
        for _ in range(30):
            _garbage()
            ast.parse(source)
    finally:
        gc.set_threshold(*threshold)
        stop.set()
        for t in threads:
            t.join()


def test_no_exception_no_lines() -> None:
    assert hops.tb_lines() == []
