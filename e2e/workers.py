"""Scenarios on several pytest-xdist workers, over one session's cluster and Argo CD.

A scenario mostly waits (on pods, on Argo CD's 5-second batching of resource changes), so
on two cores several at once take less time than one after another. Each xdist worker is
a pytest session of its own, so what a session sets up (builds, the cluster, Argo CD, the
Git server) is done `once`: by the first worker that needs it, under a file lock, while
the others wait and then take what it left. The controller, which runs no test, deletes
the cluster after every worker is done, also after a failure or Ctrl-C. Without xdist
(`-n 0`) there is no share and every step runs in-process.

The upgrade test replaces Argo CD under everyone: it holds `ArgoCDLock` exclusively, and
every other user of Argo CD (a scenario, a Postgres provisioned ahead, a time-to-fail leg)
holds it shared; a test that changes Argo CD only for a while shares it again after. A
scenario that comes while it waits waits behind it. So that the other workers do not just
wait meanwhile, the tests are dealt out with it at the head of one worker's share and the
tests that need no Argo CD at the head of the others' (`dealt`).
"""

import contextlib
import fcntl
import os
import pickle
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

from e2e.waits import Outcome, pending, succeeded, wait_until

T = TypeVar("T")

SHARE_DIR = "argocd_migration_e2e_share"  # the key the controller hands each worker
LOCK_TIMEOUT = 30 * 60  # the longest holder: a time-to-fail leg, about 11 minutes


def worker_count(config: pytest.Config) -> int:
    """How many workers the run has: 0 without xdist."""
    workerinput = getattr(config, "workerinput", None)
    return int(workerinput["workercount"]) if workerinput else 0


def dealt(items: list[T], workers: int, *, first: list[T], meanwhile: list[T]) -> list[T]:
    """`items` ordered for `workers` workers under `--dist worksteal`, which deals the list
    out in runs at the start: worker k takes the next len(left) // (workers - k) items
    (pytest-xdist 3.8.0; tests/test_workers.py checks it). `first` heads the first run
    and `meanwhile` is spread over the heads of the others, the rest fills each run up."""
    if workers < 2:
        return items
    rest = [item for item in items if item not in first and item not in meanwhile]
    heads = [list(first)] + [meanwhile[k :: workers - 1] for k in range(workers - 1)]
    order: list[T] = []
    left = len(items)
    for k, head in enumerate(heads):
        fill = max(0, left // (workers - k) - len(head))
        order += head + rest[:fill]
        rest = rest[fill:]
        left -= len(head) + fill
    return order + rest


def share_dir(config: pytest.Config) -> Path | None:
    """The session's share, in a worker of a distributed run; None otherwise."""
    workerinput = getattr(config, "workerinput", None)
    return Path(workerinput[SHARE_DIR]) if workerinput and SHARE_DIR in workerinput else None


class SharedStepFailed(RuntimeError):
    """A step another worker did once failed there."""


def set_up(request: pytest.FixtureRequest, share: "Share", step: str, make: Callable[[], T]) -> T:
    """A step of the session's setup, done once for every worker. Every test needs it, so
    its failure (or a wait for it that timed out) stops the run in one line, rather than
    erroring each test that comes after, here and in the other workers."""
    try:
        return share.once(step, make)
    except SharedStepFailed as err:
        stop(request, str(err))
    except Exception as err:
        stop(request, f"{step} failed: {err}")


def stop(request: pytest.FixtureRequest, message: str) -> NoReturn:
    """Ends the run with a one-line reason, as pytest.exit does. In an xdist worker,
    pytest.exit crashes the controller (INTERNALERROR), so the worker fails this test and
    stops after it instead, and the controller ends the run with the same reason."""
    if share_dir(request.config) is None:
        pytest.exit(message, returncode=1)
    request.session.shouldstop = message
    # Raised while handling the error that stops the run: without `from None` pytest
    # prints the message twice, "During handling of the above exception" between.
    raise pytest.fail.Exception(message, pytrace=False) from None


@dataclass(frozen=True)
class Share:
    folder: Path | None  # None: a plain session, nothing is shared

    def once(self, step: str, make: Callable[[], T]) -> T:
        """`make()` in the first worker that gets here; what it returned, in every worker.
        A failure is kept too, so the other workers fail at once with its message."""
        if self.folder is None:
            return make()
        record = self.folder / f"once-{_slug(step)}.pickle"
        with self.held(f"once-{_slug(step)}", fcntl.LOCK_EX, step):
            if record.exists():
                done, value = pickle.loads(record.read_bytes())
                if not done:
                    raise SharedStepFailed(f"{step} failed in another worker: {value}")
                return value
            try:
                value = make()
            except BaseException as err:
                record.write_bytes(pickle.dumps((False, str(err) or repr(err))))
                raise
            record.write_bytes(pickle.dumps((True, value)))
            return value

    @contextlib.contextmanager
    def exclusively(self, what: str) -> Iterator[None]:
        """One worker at a time in the block (the others wait for it)."""
        with self.held(f"exclusively-{_slug(what)}", fcntl.LOCK_EX, what):
            yield

    @contextlib.contextmanager
    def held(self, lock: str, mode: int, what: str) -> Iterator[int | None]:
        """The share's lock file `lock`, in flock `mode`, as its file descriptor; nothing
        to hold (None) without a share."""
        if self.folder is None:
            yield None
            return
        with _locked(self.folder / f"{lock}.lock", mode, what) as fd:
            yield fd

    def at_end(self, name: str, value: object) -> None:
        """Leaves the controller something to clean up when every worker is done."""
        if self.folder is not None:
            (self.folder / f"at-end-{_slug(name)}.pickle").write_bytes(pickle.dumps(value))

    def left_at_end(self, name: str) -> object | None:
        record = self.folder / f"at-end-{_slug(name)}.pickle" if self.folder else None
        return pickle.loads(record.read_bytes()) if record and record.exists() else None


class ArgoCDLock:
    """Shared by every user of Argo CD, exclusive for whatever replaces it. A process that
    holds it exclusively also passes its own shared requests (they would wait on itself).

    flock alone lets new shared holders in for as long as any is left, so an upgrade dealt
    first waited 5 min 30 s for the end of every other scenario (37 tests on a kept
    cluster, 2026-12-05). So whoever waits for it exclusively holds a turnstile meanwhile,
    and a new shared holder passes the turnstile first: the scenarios running finish, the
    ones to come wait. A process already holding it shared does not stop there: the one
    waiting for it exclusively waits on that process.

    A scenario waiting for its share is past the turnstile already, so it comes in as soon
    as one test that had Argo CD alone ends: between every two of the alone block, each time
    with a scenario that the next one then waits for (a CI run on 17cb1e3 spent 8 minutes
    so, two workers idle). So a test whose worker has Argo CD alone next too keeps it."""

    def __init__(self, share: Share) -> None:
        self.share = share
        self._held: int | None = None  # the exclusive lock's file, while this process has it
        self._exclusive: contextlib.ExitStack | None = None  # that lock, kept between tests
        self._shared_again = False
        self._shared_here = 0  # this process's shared holds (its threads, nested ones)
        self._count = threading.Lock()

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        if self._exclusive is not None:
            yield
            return
        with self._count:
            first = self._shared_here == 0
        with contextlib.ExitStack() as held:
            with self._turnstile() if first else contextlib.nullcontext():
                held.enter_context(
                    self.share.held("argocd-in-use", fcntl.LOCK_SH, "Argo CD, shared")
                )
            self._counted(+1)
            try:
                yield
            finally:
                self._counted(-1)

    @contextlib.contextmanager
    def exclusive(self, *, keep: bool = False) -> Iterator[None]:
        """keep: this worker's next test has it alone too, so nobody comes in between;
        `let_go` ends it when that does not happen."""
        if self._exclusive is None:
            what = "Argo CD to itself (no scenario using it)"
            held = contextlib.ExitStack()
            with self._turnstile():
                fd = held.enter_context(self.share.held("argocd-in-use", fcntl.LOCK_EX, what))
            self._exclusive, self._held = held, fd
        try:
            yield
        finally:
            if not keep or self._shared_again:
                self.let_go()

    def let_go(self) -> None:
        """Ends an exclusive hold, a kept one too (nothing when there is none)."""
        exclusive, self._exclusive = self._exclusive, None
        self._held, self._shared_again = None, False
        if exclusive is not None:
            exclusive.close()

    def share_again(self) -> None:
        """For a test that had Argo CD to itself only while it changed it: from now on the
        others' scenarios run beside the rest of it (flock converts the lock to shared)."""
        self._shared_again = True
        if self._held is not None:
            fcntl.flock(self._held, fcntl.LOCK_SH)

    def _turnstile(self) -> contextlib.AbstractContextManager[int | None]:
        return self.share.held("argocd-turnstile", fcntl.LOCK_EX, "the turn at Argo CD")

    def _counted(self, step: int) -> None:
        with self._count:
            self._shared_here += step


@contextlib.contextmanager
def _locked(path: Path, mode: int, what: str) -> Iterator[int]:
    """An flock of our own (a new open file, so threads of one worker do not share it),
    polled rather than blocked on, so the wait has a timeout and says what it waited for."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:

        def taken() -> Outcome:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                return pending(f"{what}: the lock {path.name} is held by another worker")
            return succeeded(f"{what}: locked")

        wait_until(taken, LOCK_TIMEOUT, f"the lock on {what}")
        try:
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


PROGRESS_FILE = "progress.log"


def progress_writer(folder: Path, worker: str) -> Callable[[str], None]:
    """A worker's progress lines, for the controller to relay: a worker's own output is
    captured by xdist, so its setup phases and long waits would go unseen."""
    path = folder / PROGRESS_FILE

    def write(line: str) -> None:
        # One write of one line in append mode: lines of several workers never interleave.
        with path.open("a") as out:
            out.write(f"[{worker}] {line}\n")

    return write


class ProgressRelay:
    """In the controller: the workers' progress lines, passed on to `sink` as they come."""

    def __init__(self, folder: Path, sink: Callable[[str], None], interval: float = 0.5) -> None:
        self.path, self.sink, self.interval = folder / PROGRESS_FILE, sink, interval
        self._offset, self._done = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress-relay", daemon=True)

    def start(self) -> "ProgressRelay":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        self._pass_on()  # what came after the last look

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self._pass_on()

    def _pass_on(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            self.sink(line)
