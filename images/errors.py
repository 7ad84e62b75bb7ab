"""One exception for every build failure, printable as one line."""

from pathlib import Path


class BuildError(RuntimeError):
    """A build step failed; says which step and where its full log is."""

    def __init__(self, step: str, reason: str, log: Path | None = None) -> None:
        self.step, self.reason, self.log = step, reason, log
        where = f" (log: {log})" if log else ""
        super().__init__(f"{step}: {reason}{where}")
