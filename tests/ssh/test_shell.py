"""Commands through the connection's long-lived shell, against a real OpenSSH server on
127.0.0.1: what a command prints and returns must be exactly what its own channel gives."""

import pytest

from tests import sshd
from xenaccept.errors import CommandTimeout
from xenaccept.transport.ssh import SSHRunner
from xenaccept.model.ssh import SSHSpec

pytestmark = pytest.mark.skipif(not sshd.available(),
                                reason=f"no OpenSSH server at {sshd.SSHD} (make setup installs it)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with sshd.Sshd(tmp_path_factory.mktemp("sshd") / "target", name="target") as s:
        yield s


@pytest.fixture
def runner(server, tmp_path):
    kh = tmp_path / "known_hosts"
    server.write_known_hosts(kh)
    spec = SSHSpec(server.host, server.port, server.user, str(server.client_key), str(kh))
    r = SSHRunner("target", spec, read_only=False)
    yield r
    r.close()


def test_output_status_and_stderr_are_the_commands_own(runner):
    runner.run("true")  # the test server (sshd -d) logs to a new session's stderr first
    r = runner.run("sh", "-c", 'printf "no newline"; printf "err\\n" >&2; exit 3')
    assert (r.exit_status, r.stdout, r.stderr) == (3, "no newline", "err\n")
    r = runner.run("printf", "%s\\n", "a b", "$(x)", "'q'", "two\nlines")
    assert r.stdout == "a b\n$(x)\n'q'\ntwo\nlines\n" and r.ok
    assert runner.run("no-such-command-xa").exit_status == 127
    big = runner.run("sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x").stdout
    assert big == "x" * 3000000
    assert runner.run("cat").stdout == ""  # stdin is /dev/null, not the shell's input


def test_one_shell_serves_every_command_and_builtins_that_change_it_do_not_run_there(runner):
    runner.run("true")
    shell = runner._shell
    for _ in range(5):
        assert runner.run("sh", "-c", "echo $PPID").ok
    assert runner._shell is shell and shell is not None
    pids = {runner.run("sh", "-c", "echo $PPID").stdout for _ in range(3)}
    assert len(pids) == 1  # one parent shell
    assert runner.run("cd", "/").ok  # on its own channel: the shell stays where it was
    assert runner.run("pwd").stdout == runner.run("sh", "-c", "pwd").stdout


def test_a_timeout_kills_the_session_and_the_next_command_works(runner):
    with pytest.raises(CommandTimeout, match="did not finish in 1 s"):
        runner.run("sleep", "5", timeout=1)
    assert runner.run("echo", "again").stdout == "again\n"
