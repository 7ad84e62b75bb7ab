"""The end of a run on a kept cluster says what it kept, and how to free it."""

from pathlib import Path

from e2e import kept


def test_a_run_that_kept_failures_says_which_and_how_to_free_them(tmp_path: Path) -> None:
    kept.keep_listed(tmp_path, "e2e-shop-abc123", "test_first_deploy")

    lines = kept.summary(tmp_path, "hold")

    assert lines[0] == "kept for inspection: namespace e2e-shop-abc123 (test_first_deploy)"
    assert "removes all but the newest 3" in lines[-1]
    assert lines[-1].endswith(
        "kubectl --context kind-hold -n argocd delete applications e2e-shop-abc123 "
        "e2e-shop-abc123-postgres && kubectl --context kind-hold delete namespace e2e-shop-abc123"
    )


def test_a_run_that_kept_nothing_says_nothing(tmp_path: Path) -> None:
    assert kept.summary(tmp_path, "hold") == []
