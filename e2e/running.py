"""While scenarios run, silence means nothing: a line when nothing was said for a while,
naming the tests that run and for how long (in the controller of a distributed run, or
the one process)."""

import threading
import time
from collections.abc import Callable

from images import progress

QUIET_S = 45.0  # said after this long without a line or a finished test


class RunningTests:
    """A pytest plugin: knows which tests run (from xdist's forwarded log events too)."""

    def __init__(self, say: Callable[[str], None], tick: float = 5.0) -> None:
        self._say, self._tick = say, tick
        self._started: dict[str, float] = {}
        self._heard = time.monotonic()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="running-tests", daemon=True)

    def start(self) -> "RunningTests":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def heard(self, line: str) -> None:
        """A line was said: `say`, then count it as news."""
        self._say(line)
        with self._lock:
            self._heard = time.monotonic()

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        with self._lock:
            self._started[nodeid] = self._heard = time.monotonic()

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        with self._lock:
            self._started.pop(nodeid, None)
            self._heard = time.monotonic()

    def _watch(self) -> None:
        while not self._done.wait(self._tick):
            now = time.monotonic()
            with self._lock:
                if not self._started or now - self._heard < QUIET_S:
                    continue
                running = sorted(self._started.items(), key=lambda item: item[1])
            names = ", ".join(
                f"{nodeid.rpartition('::')[2]} ({progress.elapsed(now - since)})"
                for nodeid, since in running
            )
            self.heard(f"running: {names}")
