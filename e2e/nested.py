"""A nested e2e session, started as a user would start one: for the tests of how the suite
itself fails (bad input, a taken cluster name, Ctrl-C), in tests/ and in e2e/."""

import sys
from pathlib import Path

import pytest

from harness.plugin import Options

# As one process, and as the suite runs by default: on pytest-xdist workers.
SESSIONS = pytest.mark.parametrize("workers", ["-n0", "-n2"], ids=["one-process", "workers"])


def command(artifacts: Path, *args: str) -> list[str]:
    """pytest on the cheapest scenario (the session's setup is what these tests are about);
    to be run from the repository's root. With artifacts of its own: a session starts by
    clearing the previous run's, which would be the outer session's or the user's."""
    return [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "e2e/test_cluster.py",
        "-k", "node_is_ready", f"--artifacts-dir={artifacts}", *args,
    ]  # fmt: skip


def passed_on(outer: Options, image_path: str) -> list[str]:
    """The outer session's choices that decide what a nested one builds or pulls: without
    them a nightly leg given a node image or an Argo CD version would build its own, for
    tens of minutes, inside a test that waits two."""
    chosen = {
        "--images": image_path,
        "--argocd-version": outer.argocd_version,
        "--upgrade-from": outer.upgrade_from,
        "--kind-image": outer.kind_image,
        "--kind-bin": outer.kind_bin,
        "--kind-kubectl-bin": outer.kind_kubectl_bin,
        "--registry-mirror": outer.registry_mirror,
        "--download-mirror": outer.download_mirror,
        "--gitops-engine-source": outer.gitops_engine_source,
    }
    return [f"{flag}={value}" for flag, value in chosen.items() if value]


def assert_one_reason(output: str, reason: str) -> None:
    """The reason, said plainly: no traceback of the error it replaced."""
    assert reason in output, output[-2000:]
    assert "During handling of the above exception" not in output, output[-2000:]
