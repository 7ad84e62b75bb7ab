"""A run's artifacts folder shows that run only: the evidence of an earlier failure, since
fixed, must not sit next to a green run's JUnit (CI keeps its clones; laptops reuse one)."""

from pathlib import Path

from e2e import diagnostics


def made(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_run_clears_the_previous_runs_evidence_and_only_that(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    ours = [
        made(artifacts / "timings.jsonl"),
        made(artifacts / "timings.md"),
        made(artifacts / "time-to-fail.json"),
        made(diagnostics.folder_for(artifacts, "test_the_fix_release_recovers", "e2e-fix-1a2b3c")
             / "events.txt").parent.parent,
        made(diagnostics.folder_for_given(artifacts, "e2e-shop-4d5e6f") / "pods.yaml").parent,
    ]  # fmt: skip
    theirs = [
        made(artifacts / "junit-e2e.xml"),  # overwritten by the run itself
        made(artifacts / "benchmark.md"),
        made(artifacts / "benchmark" / "run-1" / "timings.jsonl").parent.parent,
        made(artifacts / "test_notes" / "what-i-saw.txt").parent,
        made(artifacts / "test_mixed" / "notes.txt").parent,
    ]
    (artifacts / "test_mixed" / "e2e-ns").mkdir()

    gone = diagnostics.clear_previous(artifacts)

    assert sorted(gone) == sorted(ours)
    assert not any(path.exists() for path in ours)
    assert all(path.exists() for path in theirs)


def test_a_missing_artifacts_folder_is_nothing_to_clear(tmp_path: Path) -> None:
    assert diagnostics.clear_previous(tmp_path / "nowhere") == []
