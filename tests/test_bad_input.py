"""Bad input fails at once, in one line, before anything is built or created."""

import subprocess
import time
from pathlib import Path

from e2e import nested
from e2e.rehearsal import file_server
from harness import ROOT
from images.argocd_refs import pinned_versions

QUICK = 60  # seconds: "at once", with room for a cold Python start on a busy machine

PINNED = ", ".join(pinned_versions())


def run_suite(
    artifacts: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run(
        nested.command(artifacts, *args),
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def test_an_unknown_argocd_version_is_refused_listing_the_pinned_ones(tmp_path: Path) -> None:
    code, output, took = run_suite(tmp_path, "--argocd-version", "v9.9.9", "--images", "source")
    assert code != 0 and took < QUICK
    assert (
        f"--argocd-version 'v9.9.9' is neither pinned in versions.toml ({PINNED}) "
        "nor served by the Go module proxy" in output
    )


def test_an_unknown_image_path_is_refused(tmp_path: Path) -> None:
    code, output, _ = run_suite(tmp_path, "--images", "docker-hub")
    assert code != 0
    assert "--images must be auto, public or source, not 'docker-hub'" in output


@nested.SESSIONS
def test_an_unreachable_kubeconfig_fails_in_one_line(tmp_path: Path, workers: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n"
        "clusters: [{name: nowhere, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: nowhere, context: {cluster: nowhere, user: nobody}}]\n"
        "users: [{name: nobody, user: {token: none}}]\n"
    )
    args = (workers, "--kubeconfig", str(kubeconfig), "--images", "source")
    code, output, took = run_suite(tmp_path, *args)
    assert code != 0 and took < QUICK
    nested.assert_one_reason(output, f"the cluster of {kubeconfig} is unreachable")


@nested.SESSIONS
def test_docker_not_running_fails_in_one_line(tmp_path: Path, workers: str) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(Path.home()),
        "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",
    }
    code, output, took = run_suite(tmp_path, workers, "--images", "source", env=env)
    assert code != 0 and took < QUICK
    nested.assert_one_reason(output, "Docker is not running or not reachable")


def test_the_public_path_out_of_reach_is_refused_naming_what_it_cannot_reach(
    tmp_path: Path,
) -> None:
    """Mirrors nothing listens on, as a blocked network: --images=public says so at once."""
    nowhere = "http://127.0.0.1:1"
    args = ("--images", "public", "--registry-mirror", nowhere, "--download-mirror", nowhere)
    code, output, took = run_suite(tmp_path, *args)
    assert code != 0 and took < QUICK
    assert "--images=public unreachable: 127.0.0.1:1 (Connection refused)" in output
    assert "give --registry-mirror and --download-mirror" in output


def test_an_unknown_argocd_version_on_the_public_path_is_refused_at_once(tmp_path: Path) -> None:
    """Through a download mirror (a file server that has no such tag), as on the public path."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with file_server(mirror) as url:
        args = ("--images", "public", "--argocd-version", "v9.9.9")
        code, output, took = run_suite(
            tmp_path, *args, "--registry-mirror", url, "--download-mirror", url
        )
    assert code != 0 and took < QUICK
    assert f"--argocd-version 'v9.9.9' is neither pinned in versions.toml ({PINNED}) " in output
    assert "nor a tag or branch of argoproj/argo-cd" in output
    assert (
        "raw.githubusercontent.com/argoproj/argo-cd/v9.9.9/manifests/core-install.yaml: HTTP 404"
        in output
    )
