"""The error hierarchy. The CLI turns every `IvrError` into one line on stderr and exit code 2."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AudioError",
    "FlowError",
    "FlowErrors",
    "FlowProblem",
    "IvrError",
    "ModelError",
    "QueueError",
    "UsageError",
]


class IvrError(Exception):
    """Base of every error the engine reports to a user as one line."""


class UsageError(IvrError):
    """The command line or a call script asks for something that cannot be done."""


class AudioError(IvrError):
    """An audio file or device that cannot be read. The message names the file."""


class ModelError(IvrError):
    """A speech model that is missing or unusable. The message names the fix."""


class QueueError(IvrError):
    """The human queue's storage failed or was given an invalid record."""


@dataclass(frozen=True)
class FlowProblem:
    """One problem in a flow file, at a position."""

    path: str
    """The file the problem is in."""
    line: int
    """1-based line."""
    col: int
    """1-based column."""
    message: str
    """What is wrong, with a suggestion where one is known."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


class FlowError(IvrError):
    """A single flow problem raised on its own (e.g. a YAML syntax error)."""

    def __init__(self, problem: FlowProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class FlowErrors(IvrError):
    """Every problem found in a flow file, reported at once."""

    def __init__(self, problems: list[FlowProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.path, p.line, p.col, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))
