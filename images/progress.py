"""Progress of long work, so that a cold run never looks like a hang.

A build step, a setup phase or a long wait says when it starts and when it ends (what,
which target of how many, how long, its log file), and while it runs a heartbeat says it
is still going and what its log said last. Lines go to one sink: stderr by default (the
`python -m images` command), the terminal in a pytest session, or a file the controller
of a distributed run relays to its terminal (e2e/progress_relay.py).
"""

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HEARTBEAT_S = 30.0  # a line at least this often while something runs
TICK_S = 1.0  # how often the heartbeat looks (and a terminal's status line changes)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class _Running:
    what: str
    log: Path | None
    started: float = field(default_factory=time.monotonic)
    said: float = field(default_factory=time.monotonic)


@dataclass
class _State:
    sink: Callable[[str], None] = _stderr
    status: Callable[[str], None] | None = None  # a live status line (terminals only)
    target: str = ""  # "[3/16] the kind node image", while a planned target is built
    running: list[_Running] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ticker: threading.Thread | None = None


_state = _State()


Sink = Callable[[str], None]


def use(sink: Sink, status: Sink | None = None) -> tuple[Sink, Sink | None]:
    """Where progress lines go from now on; `status`, if given, shows a live line.
    Returns where they went before."""
    before = _state.sink, _state.status
    _state.sink, _state.status = sink, status
    return before


def say(line: str) -> None:
    """One line of progress, as it is."""
    with _state.lock:
        if _state.status:
            _state.status("")
        _state.sink(line)


def elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@contextlib.contextmanager
def target(index: int, count: int, name: str) -> Iterator[None]:
    """One of a plan's `count` targets: its steps' lines say which (`[3/16] name`). Says
    nothing of a target that needs no work (already built)."""
    _state.target = f"[{index}/{count}] {name}"
    try:
        yield
    finally:
        _state.target = ""


@contextlib.contextmanager
def step(what: str, log: Path | None = None) -> Iterator[None]:
    """A step that takes a while: a line when it starts and one when it ends, and a
    heartbeat in between."""
    prefix = f"{_state.target}: " if _state.target else ""
    running = _Running(f"{prefix}{what}", log)
    where = f" (log: {log})" if log else ""
    say(f"{running.what}: started{where}")
    with _state.lock:
        _state.running.append(running)
        _ensure_ticker()
    try:
        yield
    except BaseException as err:
        failure = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        say(f"{running.what}: {failure} after {elapsed(time.monotonic() - running.started)}")
        raise
    finally:
        with _state.lock:
            _state.running.remove(running)
    say(f"{running.what}: done in {elapsed(time.monotonic() - running.started)}")


def waiting(what: str, so_far: float, seen: str) -> None:
    """A wait that has gone on for a while: what it waits for and what it saw last."""
    seen = seen if len(seen) <= 200 else seen[:197] + "..."
    say(f"waiting for {what}: {elapsed(so_far)} so far; last seen: {seen}")


def last_line(log: Path | None) -> str:
    """The last non-empty line of a log, shortened: what a step is doing now."""
    if log is None:
        return ""
    try:
        with log.open("rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return last if len(last) <= 120 else last[:117] + "..."


def _ensure_ticker() -> None:
    if _state.ticker is None or not _state.ticker.is_alive():
        _state.ticker = threading.Thread(target=_tick, name="progress", daemon=True)
        _state.ticker.start()


def _tick() -> None:
    """Heartbeats for the steps that run: a live status line each second on a terminal,
    else a line per step every HEARTBEAT_S."""
    while True:
        time.sleep(TICK_S)
        now = time.monotonic()
        with _state.lock:  # so a line said meanwhile is never followed by a stale status
            running, status = list(_state.running), _state.status
            if status:
                newest = running[-1] if running else None
                doing = last_line(newest.log) if newest else ""
                status(f"{newest.what}: {elapsed(now - newest.started)}  {doing}" if newest else "")
        if not running:
            return
        if status:
            continue
        for step_running in running:
            if now - step_running.said >= HEARTBEAT_S:
                step_running.said = now
                doing = last_line(step_running.log)
                said = f"; last: {doing}" if doing else ""
                so_far = elapsed(now - step_running.started)
                say(f"{step_running.what}: still running, {so_far}{said}")
