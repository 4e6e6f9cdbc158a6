"""One fake host for every unit test: a runner that answers commands from a table and
records every command it is sent (read-only refusal, once-reads and the transcript are the
real :class:`~xenaccept.transport.runner.Runner`'s)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal, TypeAlias

from xenaccept.transport.runner import Runner, Transcript

Output = tuple[int, str, str]
# an answer: stdout (exit 0), (rc, stdout), (rc, stdout, stderr), or made from the command
Answer: TypeAlias = str | tuple[int, str] | Output | Callable[[str], "Answer"]


def _output(answer: Answer, command: str) -> Output:
    while callable(answer):
        answer = answer(command)
    if isinstance(answer, str):
        return 0, answer, ""
    if len(answer) == 2:
        rc, out = answer  # type: ignore[misc]
        return rc, out, "" if rc == 0 else f"{command}: not recorded"
    return answer  # type: ignore[return-value]


def not_recorded(command: str) -> Output:
    return 127, "", f"{command}: not recorded"


class FakeRunner(Runner):
    """Answers from ``answers`` ({key: answer}); a command matches a key when it equals it
    (``match="exact"``), starts with it (``"prefix"``) or contains it (``"contains"``),
    the first key in order; any other command gets ``default``."""

    def __init__(self, name: str = "dom0", answers: Mapping[str, Answer] | None = None, *,
                 read_only: bool = True, match: Literal["exact", "prefix", "contains"] = "exact",
                 default: Answer = not_recorded, transcript: Transcript | None = None) -> None:
        super().__init__(name, read_only=read_only, transcript=transcript)
        self.answers = dict(answers or {})
        self.match = match
        self.default = default
        self.sent: list[str] = []   # every command that reached the host, in order

    def _matches(self, key: str, command: str) -> bool:
        if self.match == "prefix":
            return command.startswith(key)
        if self.match == "contains":
            return key in command
        return command == key

    def answer(self, command: str) -> Output:
        for key, answer in self.answers.items():
            if self._matches(key, command):
                return _output(answer, command)
        return _output(self.default, command)

    def _execute(self, command: str, timeout: float, stdin: str | None) -> Output:
        self.sent.append(command)
        return self.answer(command)
