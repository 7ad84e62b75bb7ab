"""Long work says what it does: a line when a step starts and ends, a heartbeat in between,
long waits too, and a worker's lines reach the controller's terminal."""

import contextlib
import os
import pty
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e import nested, running
from e2e.kube import unique_name
from e2e.waits import pending, succeeded, wait_until
from e2e.workers import ProgressRelay, progress_writer
from harness import ROOT
from harness.plugin import status_line
from images import progress


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What progress says, with heartbeats every 0.3 s instead of 30."""
    said: list[str] = []
    monkeypatch.setattr(progress, "HEARTBEAT_S", 0.3)
    monkeypatch.setattr(progress, "TICK_S", 0.05)
    before = progress.use(said.append)
    yield said
    progress.use(*before)


def test_a_step_says_when_it_starts_and_ends_naming_its_target_and_log(
    lines: list[str], tmp_path: Path
) -> None:
    log = tmp_path / "go build kind.log"
    with progress.target(3, 16, "kind v0.33.0"), progress.step("go build kind", log):
        pass
    assert lines == [
        f"[3/16] kind v0.33.0: go build kind: started (log: {log})",
        "[3/16] kind v0.33.0: go build kind: done in 0s",
    ]


def test_a_long_step_beats_with_the_last_line_of_its_log(lines: list[str], tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_text("go: downloading golang.org/x/net v0.40.0\nk8s.io/kubernetes/pkg/kubelet\n\n")
    with progress.step("go build kubernetes", log):
        time.sleep(1.0)
    beats = [line for line in lines if "still running" in line]
    assert len(beats) >= 2, lines
    assert beats[0].startswith("go build kubernetes: still running, 0s; last: ")
    assert beats[0].endswith("last: k8s.io/kubernetes/pkg/kubelet")


def test_a_failed_step_says_so_and_the_error_goes_on(lines: list[str]) -> None:
    with pytest.raises(RuntimeError, match="no space left"), progress.step("debootstrap"):
        raise RuntimeError("no space left")
    assert lines == ["debootstrap: started", "debootstrap: failed after 0s"]


def test_a_long_wait_says_what_it_waits_for_and_what_it_saw(lines: list[str]) -> None:
    started = time.monotonic()

    def node_ready() -> tuple:
        if time.monotonic() - started < 1.0:
            return pending("node kind-control-plane Ready, is KubeletNotReady")
        return succeeded("1 node(s) Ready")

    assert wait_until(node_ready, 10, "the node to be Ready") == "1 node(s) Ready"
    assert lines, "a wait of a second said nothing with a 0.3-s heartbeat"
    assert lines[0].startswith("waiting for the node to be Ready: 0s so far; last seen: node ")
    assert lines[0].endswith("is KubeletNotReady")


def test_a_short_wait_says_nothing(lines: list[str]) -> None:
    assert wait_until(lambda: succeeded("at once"), 10, "nothing") == "at once"
    assert lines == []


def test_workers_lines_reach_the_controller_whole_and_in_order(tmp_path: Path) -> None:
    relayed: list[str] = []
    relay = ProgressRelay(tmp_path, relayed.append, interval=0.05).start()
    writers = [progress_writer(tmp_path, f"gw{n}") for n in range(3)]

    def write_many(n: int) -> None:
        for i in range(200):
            writers[n](f"cluster create: line {i}")

    threads = [threading.Thread(target=write_many, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    relay.stop()
    assert len(relayed) == 600
    for n in range(3):
        mine = [line for line in relayed if line.startswith(f"[gw{n}] ")]
        assert mine == [f"[gw{n}] cluster create: line {i}" for i in range(200)]


def test_a_cold_session_shows_what_it_builds_within_seconds_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    """A new machine: nothing cached (a cache folder and an image prefix of its own)."""
    env = {
        **os.environ,
        "ARGOCD_MIGRATION_E2E_CACHE": str(tmp_path / "cache"),
        "ARGOCD_MIGRATION_E2E_IMAGE_PREFIX": f"{unique_name('cold')}.local",
    }
    args = ("-n2", "--images=source", "--cluster-name", unique_name("cold"))
    run = subprocess.Popen(
        nested.command(tmp_path / "artifacts", *args),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    started = time.monotonic()
    seen: list[str] = []
    try:
        assert run.stdout is not None
        for line in run.stdout:
            seen.append(line.rstrip())
            if ": started" in line:
                break
        took = time.monotonic() - started
    finally:
        run.send_signal(signal.SIGINT)
        rest, _ = run.communicate(timeout=120)
    assert seen and ": started" in seen[-1], "\n".join([*seen, rest])
    assert took < 10, f"{took:.1f}s before the first build step said what it builds"
    assert seen[-1].startswith("[1/"), seen[-1]
    assert run.returncode == pytest.ExitCode.INTERRUPTED, "\n".join(seen) + rest[-2000:]


def test_on_a_terminal_a_running_step_shows_a_live_status_line(
    lines: list[str], tmp_path: Path
) -> None:
    """A real pseudo-terminal: the status line is rewritten in place, then cleared."""
    leader, follower = pty.openpty()
    terminal = os.fdopen(follower, "w", buffering=1)
    status = status_line(terminal)
    assert status is not None, "a pseudo-terminal is a terminal"
    log = tmp_path / "build.log"
    log.write_text("Step 3/9 : RUN apt-get install -y postgresql-15\n")
    progress.use(lines.append, status)
    with progress.step("build postgres", log):
        time.sleep(0.5)  # the step's work
    shown = ""
    os.set_blocking(leader, False)

    def cleared() -> tuple:
        nonlocal shown
        with contextlib.suppress(BlockingIOError):
            shown += os.read(leader, 65536).decode()
        if shown.endswith("\r\x1b[K"):
            return succeeded("the status line cleared")
        return pending(f"the status line to be cleared, shows {shown[-60:]!r}")

    wait_until(cleared, 5, "the heartbeat's next look, which finds nothing running")
    assert "\r\x1b[Kbuild postgres: 0s  Step 3/9 : RUN apt-get install -y postgresql-15" in shown
    assert not any("still running" in line for line in lines), "heartbeats go to CI logs only"
    assert status_line(open(os.devnull, "w")) is None  # noqa: SIM115


def test_a_quiet_stretch_of_scenarios_names_the_tests_that_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scenario of two minutes whose every wait is short says nothing of its own."""
    said: list[str] = []
    monkeypatch.setattr(running, "QUIET_S", 0.3)
    tests = running.RunningTests(said.append, tick=0.05).start()
    try:
        tests.pytest_runtest_logstart("e2e/test_argocd_upgrade.py::test_the_hook_behaves")
        wait_until(lambda: succeeded("said") if said else pending("a line"), 5, "a line")
        tests.pytest_runtest_logfinish("e2e/test_argocd_upgrade.py::test_the_hook_behaves")
    finally:
        tests.stop()
    assert said[0] == "running: test_the_hook_behaves (0s)", said
    quiet = len(said)
    tests.heard("[gw1] cluster create: started")
    assert said[quiet:] == ["[gw1] cluster create: started"]
