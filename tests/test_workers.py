"""The e2e suite's sharing between pytest-xdist workers, with real processes and real locks:
a setup step runs once for all, a failure reaches every worker, and the upgrade test's hold
on Argo CD waits for every scenario's (and keeps new ones out)."""

import fcntl
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e.waits import Outcome, pending, stays_true, succeeded, wait_until
from e2e.workers import ArgoCDLock, Share, SharedStepFailed, dealt
from harness import ROOT

SPAWN = multiprocessing.get_context("spawn")  # a worker is a process of its own


def count_and_return(folder: str, log: str) -> str:
    def make() -> str:
        with open(log, "a") as out:
            out.write("made\n")
        time.sleep(1)  # long enough for the other workers to be waiting on the lock
        return "the cluster"

    return Share(Path(folder)).once("cluster", make)


def test_a_step_runs_once_for_every_worker(tmp_path: Path) -> None:
    log = tmp_path / "made.log"
    with SPAWN.Pool(3) as pool:
        results = pool.starmap(count_and_return, [(str(tmp_path), str(log))] * 3)
    assert results == ["the cluster"] * 3
    assert log.read_text() == "made\n"


def test_a_failed_step_fails_the_other_workers_with_its_message(tmp_path: Path) -> None:
    share = Share(tmp_path)

    def broken() -> str:
        raise RuntimeError("kind create cluster: exit status 1")

    with pytest.raises(RuntimeError, match="exit status 1"):
        share.once("cluster", broken)
    with pytest.raises(SharedStepFailed, match="cluster failed in another worker: kind create"):
        share.once("cluster", lambda: "never made")


def test_without_workers_nothing_is_shared() -> None:
    share = Share(None)
    made = [share.once("cluster", lambda: object()) for _ in range(2)]
    assert made[0] is not made[1]


def hold(folder: str, mode: str, seconds: float, log: str) -> None:
    lock = ArgoCDLock(Share(Path(folder)))
    with lock.exclusive() if mode == "exclusive" else lock.shared():
        with open(log, "a") as out:
            out.write(f"{mode} in {time.monotonic():.3f}\n")
        time.sleep(seconds)
        with open(log, "a") as out:
            out.write(f"{mode} out {time.monotonic():.3f}\n")


def events(log: Path) -> list[tuple[str, str, float]]:
    rows = [line.split() for line in log.read_text().splitlines()]
    return sorted(((mode, what, float(at)) for mode, what, at in rows), key=lambda row: row[2])


def entered(log: Path, mode: str, count: int) -> Outcome:
    seen = log.read_text().count(f"{mode} in") if log.exists() else 0
    if seen == count:
        return succeeded(f"{count} {mode} holder(s) in")
    return pending(f"{count} {mode} holder(s) in, seen {seen}")


def test_scenarios_share_argo_cd_and_the_upgrade_waits_for_them(tmp_path: Path) -> None:
    log = tmp_path / "locks.log"
    args = (str(tmp_path), str(log))
    scenarios = [SPAWN.Process(target=hold, args=(args[0], "shared", 2, args[1])) for _ in "ab"]
    for scenario in scenarios:
        scenario.start()
    wait_until(lambda: entered(log, "shared", 2), 30, "both scenarios to hold Argo CD")
    upgrade = SPAWN.Process(target=hold, args=(args[0], "exclusive", 0.5, args[1]))
    upgrade.start()
    for process in [*scenarios, upgrade]:
        process.join(30)
        assert process.exitcode == 0
    order = [(mode, what) for mode, what, _ in events(log)]
    # Both scenarios were in at once, and the upgrade came in only after both left
    assert order[:2] == [("shared", "in"), ("shared", "in")]
    assert order[2:4] == [("shared", "out"), ("shared", "out")]
    assert order[4:] == [("exclusive", "in"), ("exclusive", "out")]


def turnstile_taken(folder: Path) -> Outcome:
    """Someone waits for Argo CD to itself: the turnstile's flock is held."""
    path = folder / "argocd-turnstile.lock"
    if not path.exists():
        return pending("no turnstile yet")
    with path.open("a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return succeeded("the turnstile is held")
        fcntl.flock(file, fcntl.LOCK_UN)
    return pending("the turnstile is free")


def test_a_waiting_upgrade_goes_before_the_scenarios_that_come_after_it(tmp_path: Path) -> None:
    log = tmp_path / "locks.log"
    folder, out = str(tmp_path), str(log)
    # Given a scenario using Argo CD, and the upgrade waiting for it
    running = SPAWN.Process(target=hold, args=(folder, "shared", 2, out))
    running.start()
    wait_until(lambda: entered(log, "shared", 1), 30, "the running scenario to hold Argo CD")
    upgrade = SPAWN.Process(target=hold, args=(folder, "exclusive", 0.5, out))
    upgrade.start()
    wait_until(lambda: turnstile_taken(tmp_path), 30, "the upgrade to wait at the turnstile")
    # When the next scenario comes
    later = SPAWN.Process(target=hold, args=(folder, "shared", 0, out))
    later.start()
    for process in (running, upgrade, later):
        process.join(30)
        assert process.exitcode == 0
    # Then it waits for the upgrade, which waited only for the one running
    order = [(mode, what) for mode, what, _ in events(log)]
    assert order == [
        ("shared", "in"),
        ("shared", "out"),
        ("exclusive", "in"),
        ("exclusive", "out"),
        ("shared", "in"),
        ("shared", "out"),
    ]


def test_the_alone_block_lets_no_scenario_in_between_its_tests(tmp_path: Path) -> None:
    log = tmp_path / "locks.log"
    lock = ArgoCDLock(Share(tmp_path))
    # Given the upgrade with Argo CD alone, the downgrade next on its worker
    with lock.exclusive(keep=True):
        # And a scenario waiting for its share
        scenario = SPAWN.Process(target=hold, args=(str(tmp_path), "shared", 0, str(log)))
        scenario.start()
        wait_until(lambda: turnstile_taken(tmp_path), 30, "the scenario to wait for its share")
    # When the upgrade ends and the downgrade begins
    stays_true(lambda: entered(log, "shared", 0), 2, "no scenario in after the upgrade")
    with lock.exclusive():
        # Then the scenario waits for the downgrade too
        stays_true(lambda: entered(log, "shared", 0), 1, "no scenario in the downgrade")
    # And comes in at the end of the block
    scenario.join(30)
    assert scenario.exitcode == 0 and "shared in" in log.read_text()


def test_a_kept_hold_goes_when_the_next_test_does_not_take_it(tmp_path: Path) -> None:
    log = tmp_path / "locks.log"
    lock = ArgoCDLock(Share(tmp_path))
    with lock.exclusive(keep=True):
        pass
    lock.let_go()  # the next test failed before it had Argo CD alone, say
    scenario = SPAWN.Process(target=hold, args=(str(tmp_path), "shared", 0, str(log)))
    scenario.start()
    scenario.join(30)
    assert scenario.exitcode == 0 and "shared in" in log.read_text()


def test_the_upgrade_keeps_new_scenarios_out_but_not_its_own_worker(tmp_path: Path) -> None:
    log = tmp_path / "locks.log"
    lock = ArgoCDLock(Share(tmp_path))
    with lock.exclusive():
        with lock.shared():  # its own deploy_bookshop, say: would otherwise wait on itself
            pass
        scenario = SPAWN.Process(target=hold, args=(str(tmp_path), "shared", 0, str(log)))
        scenario.start()
        stays_true(lambda: entered(log, "shared", 0), 2, "no scenario in while Argo CD is replaced")
    scenario.join(30)
    assert scenario.exitcode == 0 and "shared in" in log.read_text()


def test_a_test_that_shares_argo_cd_again_lets_the_others_in_before_its_end(
    tmp_path: Path,
) -> None:
    log = tmp_path / "locks.log"
    lock = ArgoCDLock(Share(tmp_path))
    with lock.exclusive():
        scenario = SPAWN.Process(target=hold, args=(str(tmp_path), "shared", 0, str(log)))
        scenario.start()
        stays_true(lambda: entered(log, "shared", 0), 2, "no scenario in while Argo CD is changed")
        # the controller restarted, say: the rest of the test only waits
        lock.share_again()
        wait_until(lambda: entered(log, "shared", 1), 30, "the scenario to come in")
    scenario.join(30)
    assert scenario.exitcode == 0


DEALT_CONFTEST = """
import os
import pytest
from e2e import workers

def pytest_collection_modifyitems(config, items):
    first = [i for i in items if i.name.startswith("test_alone")]
    meanwhile = [i for i in items if i.name.startswith("test_free")]
    items[:] = workers.dealt(items, workers.worker_count(config), first=first, meanwhile=meanwhile)

def pytest_runtest_setup(item):
    with open(os.environ["ORDER_LOG"], "a") as log:
        log.write(f"{item.config.workerinput['workerid']} {item.name}\\n")
"""

DEALT_TESTS = """
import pytest

@pytest.mark.parametrize("n", range(12))
def test_scenario(n): pass

def test_alone(): pass

@pytest.mark.parametrize("n", range(4))
def test_free(n): pass
"""


def test_worksteal_starts_each_worker_where_dealt_puts_it(tmp_path: Path) -> None:
    """`dealt` relies on how pytest-xdist's worksteal first hands the tests out: the test
    holding Argo CD alone must start one worker, and tests needing no Argo CD the others."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(DEALT_CONFTEST)
    (suite / "test_dealt.py").write_text(DEALT_TESTS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "3",
         "--dist", "worksteal", str(suite)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "ORDER_LOG": str(tmp_path / "order.log")},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    firsts: dict[str, str] = {}
    for line in (tmp_path / "order.log").read_text().splitlines():
        worker, test = line.split(" ", 1)
        firsts.setdefault(worker, test)
    assert sorted(test.split("[")[0] for test in firsts.values()) == [
        "test_alone",
        "test_free",
        "test_free",
    ], firsts


def test_dealt_heads_the_runs_and_fills_them_up() -> None:
    items = [f"s{n}" for n in range(8)] + ["alone", "f0", "f1"]
    order = dealt(items, 3, first=["alone"], meanwhile=["f0", "f1"])
    # worksteal's runs: 11 // 3 = 3, then 8 // 2 = 4, then 4
    assert order == ["alone", "s0", "s1", "f0", "s2", "s3", "s4", "f1", "s5", "s6", "s7"]
    assert dealt(items, 0, first=["alone"], meanwhile=["f0"]) == items
