import pytest

from xenaccept.errors import CommandTimeout, HarnessError, ReadOnlyViolation
from xenaccept.transport.runner import LocalRunner


def test_every_argument_is_quoted(tmp_path):
    marker = tmp_path / "pwned"
    r = LocalRunner("local", read_only=True)
    res = r.run("echo", f"$(touch {marker})", "; touch " + str(marker), "`touch x`")
    assert res.ok
    assert res.stdout == f"$(touch {marker}) ; touch {marker} `touch x`\n"
    assert not marker.exists()


def test_read_only_refuses_mutating_commands(tmp_path):
    r = LocalRunner("local", read_only=True)
    with pytest.raises(ReadOnlyViolation, match="check mode"):
        r.run("touch", str(tmp_path / "x"), mutates=True)
    assert not (tmp_path / "x").exists()
    assert r.transcript.entries == []


def test_transcript_records_commands_and_mutations(tmp_path):
    r = LocalRunner("local", read_only=False)
    r.run("true")
    r.write_file(str(tmp_path / "f.cfg"), "name = \"x\"\n")
    assert (tmp_path / "f.cfg").read_text() == "name = \"x\"\n"
    assert [e.mutates for e in r.transcript.entries] == [False, True]
    assert r.transcript.mutating()[0].command.startswith("sh -c ")


def test_timeout_is_a_harness_error():
    r = LocalRunner("local", read_only=True)
    with pytest.raises(CommandTimeout, match="did not finish in 0.3 s"):
        r.run("sleep", "5", timeout=0.3)
    assert issubclass(CommandTimeout, HarnessError)


def test_check_raises_with_stderr():
    r = LocalRunner("local", read_only=True)
    with pytest.raises(HarnessError, match="exited 1: oops"):
        r.run("sh", "-c", "echo oops >&2; exit 1", check=True)


def test_an_unreachable_host_costs_one_connect_timeout_not_one_per_command(tmp_path):
    import socket
    import time

    from xenaccept.transport import wait
    from xenaccept.transport.ssh import SSHRunner
    from xenaccept.model.ssh import SSHSpec
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    (tmp_path / "k").write_text("")
    spec = SSHSpec("127.0.0.1", port, "root", str(tmp_path / "k"), str(tmp_path / "k"),
                   connect_timeout=2.0)
    r = SSHRunner("drvdom", spec, read_only=True)
    with pytest.raises(HarnessError, match="unreachable"):
        r.run("true")
    assert not r.reachable
    start = time.monotonic()
    with pytest.raises(HarnessError, match=r"unreachable \(tried 0 s ago\)"):
        r.run("true")
    assert time.monotonic() - start < 0.1
    # a wait keeps trying for real (and so times out on its own deadline)
    with pytest.raises(wait.WaitTimeout):
        r.wait_reachable(timeout=1, interval=0.2)


def test_a_connection_opened_ahead_is_waited_for_by_the_first_command(tmp_path):
    # a port that holds the connection without a banner for a while: the connection opens
    # in the background, the caller goes on at once, and the first command waits for the
    # attempt and then says why it failed (kept, not raised in the thread)
    import socket
    import time

    from xenaccept.model.ssh import SSHSpec
    from xenaccept.transport.ssh import SSHRunner
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    (tmp_path / "k").write_text("")
    spec = SSHSpec("127.0.0.1", silent.getsockname()[1], "root", str(tmp_path / "k"),
                   str(tmp_path / "k"), connect_timeout=1.0)
    r = SSHRunner("drvdom", spec, read_only=True)
    start = time.monotonic()
    r.connect_ahead()
    assert time.monotonic() - start < 0.2
    with pytest.raises(HarnessError, match=r"unreachable \(tried [01] s ago\)"):
        r.run("true")
    assert 0.9 < time.monotonic() - start < 5
    assert not r.reachable
    r.close()
    silent.close()


def test_journal_undoes_last_first_once_each_and_never_stops_half_way():
    from xenaccept.provision import Journal
    done = []
    j = Journal(log=lambda m: None)
    j.push("a", lambda: done.append("a"))
    j.push("b", lambda: 1 / 0)
    j.push("a", lambda: done.append("a again"))
    j.push("c", lambda: done.append("c"))
    errors = j.unwind()
    assert done == ["c", "a"]
    assert errors == ["b: ZeroDivisionError: division by zero"]
    assert j.entries == []


def test_the_banner_probe_tells_a_listening_ssh_server_from_a_silent_port(tmp_path):
    """A booting host's port forward accepts TCP long before sshd answers: the wait's probe
    must give up on a silent port within its limit, and see a real banner at once."""
    import socket
    import threading
    import time

    from xenaccept.transport.ssh import SSHRunner

    from xenaccept.model.ssh import SSHSpec

    def server(greeting: bytes) -> int:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()

        def serve() -> None:
            conn, _ = s.accept()
            conn.sendall(greeting)
            time.sleep(2)
            conn.close()
            s.close()
        threading.Thread(target=serve, daemon=True).start()
        return s.getsockname()[1]

    (tmp_path / "k").write_text("")

    def runner(port: int) -> SSHRunner:
        spec = SSHSpec("127.0.0.1", port, "root", str(tmp_path / "k"), str(tmp_path / "k"))
        return SSHRunner("drvdom", spec, read_only=True)

    assert runner(server(b"SSH-2.0-OpenSSH_9.2\r\n")).banner(1.0)
    start = time.monotonic()
    assert not runner(server(b"")).banner(0.5)
    assert time.monotonic() - start < 1.0
    assert not runner(server(b"HTTP/1.1 400\r\n")).banner(1.0)


def test_a_wait_makes_only_its_own_runners_patient_and_records_itself_where_told():
    from xenaccept.transport import wait
    polled, other = LocalRunner("polled", read_only=True), LocalRunner("other", read_only=True)
    seen: list[tuple[int, int]] = []
    history: list[wait.Waited] = []

    def probe() -> bool:
        seen.append((polled.patience, other.patience))
        return len(seen) == 2
    assert wait.until(probe, timeout=5, interval=0.01, what="twice", patient=(polled,),
                      history=history)
    assert seen == [(1, 0), (1, 0)] and (polled.patience, other.patience) == (0, 0)
    [w] = history
    assert w["what"] == "twice" and w["polls"] == 2
    assert wait.until(lambda: True, timeout=1, what="no record") and len(history) == 1
