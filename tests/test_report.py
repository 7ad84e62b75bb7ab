"""The session's report (e2e/report.py), drawn from recorded timelines and looked at in a
real browser: headless Chromium from Debian's packages, in a container."""

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from e2e import recording, report
from harness import ROOT
from images import engine, workloads

RECORDED = Path(__file__).parent / "data" / "recordings"  # from a real session (e2e/recording.py)
FIRST_DEPLOY = "test_first_deploy_migrates_before_the_app_exists"
FAILING = "test_a_failing_migration_keeps_the_old_version_serving"
RESULTS = {
    FIRST_DEPLOY: {"outcome": "passed", "duration_s": 31.0, "scenario": True},
    FAILING: {
        "outcome": "failed",
        "duration_s": 48.0,
        "scenario": True,
        "message": "AssertionError: recorded as failed for this test",
    },
    "test_argocd_answers": {"outcome": "passed", "duration_s": 2.0, "scenario": False},
}
HELM_ROLLBACK = "test_helm_rollback_runs_no_upgrade_hook_and_puts_the_old_code_on_the_new_schema"
SCREENSHOT = ROOT / "artifacts" / "report-screenshot.png"


@pytest.fixture(scope="session")
def browser(image_path: str) -> str:
    return workloads.browser(image_path)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """An artifacts folder as a session leaves it: recordings, versions, timings."""
    folder = tmp_path / "artifacts"
    shutil.copytree(RECORDED, folder / recording.FOLDER)
    report.write_session(folder, argocd="v3.6.1", kubernetes="v1.37.2", image_path="source")
    (folder / "timings.jsonl").write_text(
        json.dumps({"phase": "image build", "duration_s": 12.5}) + "\n"
    )
    return folder


def test_the_report_draws_a_timeline_for_every_scenario_in_a_browser(
    browser: str, artifacts: Path
) -> None:
    # Given a report of a session with a passed and a failed scenario
    report.write(artifacts, RESULTS)
    # When Chromium renders it
    dom, log = chromium(browser, artifacts, "--dump-dom", "--virtual-time-budget=3000")
    chromium(browser, artifacts, "--screenshot=/out/report.png", "--window-size=1200,1800")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    shutil.copy(artifacts / "report.png", SCREENSHOT)
    # Then both scenarios are there, each with its story and its lanes
    for name in (FIRST_DEPLOY, FAILING):
        assert f'id="{name}"' in dom, name
    assert dom.count('class="timeline"') == len(recording.read(artifacts))
    for lane in ("sync operation", "migration Job #1 (v1.0)", "ReplicaSet v1.0"):
        assert f'data-lane="{lane}"' in dom, lane
    assert "Given a fresh namespace" in dom
    # And the page drew without a script error, and is no blank page: the bars' colours
    # are on screen (green of a succeeded hook, red of the failed migration)
    assert not [line for line in log.splitlines() if "CONSOLE" in line], log
    colours = {colour for _, colour in Image.open(SCREENSHOT).convert("RGB").getcolors(1 << 24)}
    assert on_screen(report.COLOURS["succeeded"], colours)
    assert on_screen(report.COLOURS["failed"], colours)


def test_a_report_names_a_scenario_without_a_timeline(artifacts: Path) -> None:
    """A scenario that failed before it had a namespace still shows, with its verdict."""
    results = {**RESULTS, "test_never_got_a_namespace": {"outcome": "error", "scenario": True}}
    page = report.render(artifacts, results, interrupted=True)
    assert 'id="test_never_got_a_namespace"' in page
    assert "no timeline" in page
    assert "interrupted" in page
    assert 'id="test_argocd_answers"' not in page  # not a scenario, nothing to draw


def test_a_scenario_without_an_application_draws_its_objects() -> None:
    """Helm itself installs its chart (e2e/test_helm_itself.py): no sync, no Argo CD hook,
    the Jobs, ReplicaSets and pods all the same (this recording once crashed the report)."""
    recorded = json.loads(next(RECORDED.glob(f"{HELM_ROLLBACK}--*.json")).read_text())
    labels = [lane.label for lane in report.lanes(recorded)]
    assert "sync operation" not in labels and "hook phase in Argo CD" not in labels, labels
    assert any(label.startswith("migration Job #1") for label in labels), labels
    assert any(label.startswith("ReplicaSet v2.0") for label in labels), labels


def test_lanes_follow_the_objects_of_a_recording() -> None:
    recorded = json.loads((RECORDED / next(iter(sorted(os.listdir(RECORDED))))).read_text())
    labels = [lane.label for lane in report.lanes(recorded)]
    assert labels[0] == "sync operation"
    assert any(label.startswith("migration Job #1") for label in labels), labels
    assert any(label.startswith("web pod") for label in labels), labels


def chromium(image: str, folder: Path, *args: str) -> tuple[str, str]:
    """Run the browser on folder/report.html; its standard output and its log."""
    container = engine.client().containers.run(
        image,
        [*args, "--enable-logging=stderr", "--v=0", "file:///out/report.html"],
        volumes={str(folder): {"bind": "/out", "mode": "rw"}},
        user=f"{os.getuid()}:{os.getgid()}",
        environment={"HOME": "/tmp"},
        detach=True,
    )
    try:
        status = container.wait(timeout=180)["StatusCode"]
        out = container.logs(stdout=True, stderr=False).decode(errors="replace")
        log = container.logs(stdout=False, stderr=True).decode(errors="replace")
    finally:
        container.remove(force=True)
    assert status == 0, f"chromium {' '.join(args)} exited {status}: {log[-2000:]}"
    return out, log


def on_screen(colour: str, seen: set[tuple[int, int, int]], tolerance: int = 8) -> bool:
    """Whether a pixel of that colour (#rrggbb, give or take colour management) is there."""
    wanted = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return any(
        all(abs(a - b) <= tolerance for a, b in zip(pixel, wanted, strict=True)) for pixel in seen
    )


def test_a_verdict_is_the_worst_of_its_phases() -> None:
    verdicts = report.Verdicts()
    for name, phases in {
        "test_failed_in_its_call": ("passed", "failed", "passed"),
        "test_failed_in_its_teardown": ("passed", "passed", "failed"),
        "test_skipped": ("skipped", None, "passed"),
        "test_passed": ("passed", "passed", "passed"),
    }.items():
        for when, outcome in zip(("setup", "call", "teardown"), phases, strict=True):
            if outcome is not None:
                verdicts.pytest_runtest_logreport(
                    pytest.TestReport(
                        f"e2e/test_x.py::{name}",
                        ("e2e/test_x.py", 1, name),
                        {},
                        outcome,
                        None,
                        when,
                        duration=1.0,
                    )
                )
    outcomes = {name: result["outcome"] for name, result in verdicts.results.items()}
    assert outcomes == {
        "test_failed_in_its_call": "failed",
        "test_failed_in_its_teardown": "error",
        "test_skipped": "skipped",
        "test_passed": "passed",
    }
