"""One exception for every build failure, printable as one line."""

import sys
from collections.abc import Callable
from pathlib import Path


class BuildError(RuntimeError):
    """A build step failed; says which step and where its full log is."""

    def __init__(self, step: str, reason: str, log: Path | None = None) -> None:
        self.step, self.reason, self.log = step, reason, log
        where = f" (log: {log})" if log else ""
        super().__init__(f"{step}: {reason}{where}")


def as_command(main: Callable[[], int]) -> int:
    """A command's exit status: a build failure as one line (1), Ctrl-C as 130."""
    try:
        return main()
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
