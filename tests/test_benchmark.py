"""The benchmark's bookkeeping, without a cluster: session phases are timed without
counting a phase twice, and runs' artifacts become one table with cold and warm apart."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e import benchmark, timings

MACHINE = ("cores", "cpu", "memory_gib", "os", "docker", "docker_cpus", "docker_memory_gib")
ABOUT = {
    "machine": dict.fromkeys((*MACHINE, "python", "commit"), "?"),
    "command": "c",
    "started": "t",
}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """timings' clock, moved by hand: now[0] is the time."""
    now = [0.0]
    monkeypatch.setattr(timings, "monotonic", lambda: now[0])
    yield now


def test_a_phase_inside_another_counts_only_in_its_own_row(
    tmp_path: Path, clock: list[float]
) -> None:
    with timings.phase("Git server ready", tmp_path):
        clock[0] += 2
        with timings.phase("image build", tmp_path):
            clock[0] += 30
        clock[0] += 5
    with timings.phase("image build", tmp_path):
        clock[0] += 10

    assert timings.phases(timings.read(tmp_path)) == {"image build": 40, "Git server ready": 7}
    assert "| Git server ready | 7 |" in timings.markdown(tmp_path)


def test_a_failed_phase_records_nothing(tmp_path: Path, clock: list[float]) -> None:
    with pytest.raises(RuntimeError), timings.phase("cluster create", tmp_path):
        raise RuntimeError("kind create failed")
    with timings.phase("image load", tmp_path):
        clock[0] += 3

    assert timings.phases(timings.read(tmp_path)) == {"image load": 3}


def test_runs_args_are_split_from_pytests() -> None:
    runs, pytest_args = benchmark.parse(["--runs", "2", "-k", "first or last", "--images=source"])
    assert runs == 2
    assert pytest_args == ["-k", "first or last", "--images=source"]
    assert benchmark.session_options(pytest_args).images == "source"


def write_run(folder: Path, phases: dict[str, float], scenario: float, held: float) -> None:
    folder.mkdir(parents=True)
    lines = [{"phase": name, "duration_s": s} for name, s in phases.items()]
    lines.append({"test": "test_first_deploy", "duration_s": scenario, "syncs": []})
    (folder / "timings.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    legs = {"default (6)": {"held_s": held, "failed_pods": 6, "phase": "Failed"}}
    (folder / "time-to-fail.json").write_text(json.dumps(legs))
    (folder / "junit-e2e.xml").write_text(
        '<testsuites><testsuite tests="3" failures="1" errors="0" skipped="0"/></testsuites>'
    )


def test_runs_become_one_table_with_warm_statistics(tmp_path: Path) -> None:
    write_run(tmp_path / "1", {"image build": 100, "cluster create": 60}, 30, 600)
    write_run(tmp_path / "2", {"image build": 2}, 20, 610)
    write_run(tmp_path / "3", {"image build": 4}, 24, 606)
    runs = [
        benchmark.collect(tmp_path / "1", 1, "cold", 0, 900),
        benchmark.collect(tmp_path / "2", 2, "warm", 0, 700),
        benchmark.collect(tmp_path / "3", 3, "warm", 1, 710),
    ]

    table = {row["name"]: row for row in benchmark.rows(runs)}
    assert list(table) == [
        "image build",
        "cluster create",
        "scenario: test_first_deploy",
        "time to fail, backoffLimit default (6)",
        "total",
    ]
    assert table["image build"]["runs"] == [100, 2, 4]
    assert table["image build"]["warm"] == {"min": 2, "median": 3, "max": 4}
    assert table["cluster create"]["runs"] == [60, None, None]
    assert table["cluster create"]["warm"] == {}

    text = benchmark.markdown(runs, ABOUT)
    assert "| seconds | run 1 (cold) | run 2 (warm) | run 3 (warm) | warm min |" in text
    assert "| cluster create | 60 | - | - | - | - | - |" in text
    assert "| time to fail, backoffLimit default (6) | 600 | 610 | 606 | 606 | 608 | 610 |" in text
    assert "| tests | 2 passed, 1 failed | 2 passed, 1 failed | 2 passed, 1 failed |" in text


def test_a_table_of_cold_runs_only_has_no_warm_columns(tmp_path: Path) -> None:
    write_run(tmp_path / "1", {"cluster create": 60}, 30, 600)
    runs = [benchmark.collect(tmp_path / "1", 1, "cold", 0, 900)]
    text = benchmark.markdown(runs, ABOUT)
    assert "| seconds | run 1 (cold) |\n" in text
    assert "| total | 900 |\n" in text
