"""The bookshop as a Helm chart (manifests/chart/bookshop): rendered by the pinned Helm
(`helm template`, as Helm installs it and as Argo CD renders it), it makes the very objects
kustomize makes of manifests/app/overlays/hardened, the migration Job a Helm hook instead
of an Argo CD one, and each of its switches renders what it says."""

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import ROOT
from images import hosttools
from images.pins import pins
from tests.rendered import kustomized, the

CHART = ROOT / "manifests/chart/bookshop"
HARDENED = ROOT / "manifests/app/overlays/hardened"
JOB_SCRIPTS = ROOT / "sample_django_app/job-scripts"
HELM_HOOKS = {
    "helm.sh/hook": "pre-install,pre-upgrade",
    "helm.sh/hook-delete-policy": "before-hook-creation",
}


@pytest.fixture(scope="session")
def helm(image_path: str) -> Path:
    return hosttools.helm(image_path)


@pytest.fixture(scope="session")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Helm's cache, config and data in a folder of the session's, not the user's."""
    home = tmp_path_factory.mktemp("helm-home")
    return {
        **os.environ,
        **{f"HELM_{kind}_HOME": str(home / kind.lower()) for kind in ("CACHE", "CONFIG", "DATA")},
    }


def run_helm(helm: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), *args], capture_output=True, text=True, env=env, check=False, timeout=60
    )


def template(helm: Path, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    """`helm template` of the chart, as Argo CD runs it (release = app, namespace given)."""
    result = run_helm(
        helm, env, "template", "bookshop", str(CHART), "--namespace", "e2e-bookshop", *args
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def job_with(helm: Path, env: dict[str, str], *values: str) -> dict[str, Any]:
    return the("Job", template(helm, env, *(a for v in values for a in ("--set", v))))


def images_of(objects: list[dict[str, Any]]) -> set[str]:
    return {
        c["image"]
        for obj in objects
        if obj["kind"] in ("Job", "Deployment")
        for c in obj["spec"]["template"]["spec"]["containers"]
    }


def test_helm_is_the_pinned_version(helm: Path, helm_env: dict[str, str]) -> None:
    result = run_helm(helm, helm_env, "version", "--template", "{{ .Version }}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == pins()["tools"]["helm"]["version"]


def test_the_chart_passes_helm_lint(helm: Path, helm_env: dict[str, str]) -> None:
    result = run_helm(helm, helm_env, "lint", "--strict", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_chart_makes_the_hardened_overlays_objects(
    helm: Path, helm_env: dict[str, str], kustomize: Path
) -> None:
    """Field by field: names, labels, selectors, image, env, volumes, probes, resources,
    the Job's hardening and script; only the Job's hook annotations differ."""
    charted, kustomize_made = template(helm, helm_env), kustomized(kustomize, HARDENED)
    assert sorted(o["kind"] for o in charted) == sorted(o["kind"] for o in kustomize_made)
    for kind in ("Deployment", "Service"):
        assert the(kind, charted) == the(kind, kustomize_made), kind
    job, hardened = the("Job", charted), the("Job", kustomize_made)
    assert job["metadata"].pop("annotations") == HELM_HOOKS
    assert hardened["metadata"].pop("annotations") == {
        "argocd.argoproj.io/hook": "PreSync",
        "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
    }
    assert job == hardened
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert script == (JOB_SCRIPTS / "hardened.sh").read_text()


def test_by_default_the_job_is_a_helm_hook_and_not_an_argocd_one(
    helm: Path, helm_env: dict[str, str]
) -> None:
    job = job_with(helm, helm_env)
    assert job["metadata"]["annotations"] == HELM_HOOKS
    assert "ttlSecondsAfterFinished" not in job["spec"], "the Job must stay until the next release"
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 600


def test_a_release_is_a_values_change(helm: Path, helm_env: dict[str, str]) -> None:
    """image.tag sets the Job's and the Deployment's image alike, as newTag does."""
    assert images_of(template(helm, helm_env)) == {"my-django-app:v1.0"}
    released = template(
        helm, helm_env, "--set", "image.tag=v3.1", "--set", "image.repository=registry:5000/shop"
    )
    assert images_of(released) == {"registry:5000/shop:v3.1"}


def test_the_hook_can_run_after_a_first_installs_objects(
    helm: Path, helm_env: dict[str, str]
) -> None:
    job = job_with(helm, helm_env, "migration.helmHook=post-install\\,pre-upgrade")
    assert job["metadata"]["annotations"] == {
        **HELM_HOOKS,
        "helm.sh/hook": "post-install,pre-upgrade",
    }


def test_a_hook_event_helm_does_not_know_is_refused(helm: Path, helm_env: dict[str, str]) -> None:
    """Helm would drop it, and a hook with no event it knows never runs."""
    result = run_helm(
        helm,
        helm_env,
        "template",
        "bookshop",
        str(CHART),
        "--set",
        "migration.helmHook=pre_install\\,pre-upgrade",
    )
    assert result.returncode != 0
    assert '"pre_install" is not a Helm hook event' in result.stderr


def test_an_argocd_hook_annotation_can_be_added(helm: Path, helm_env: dict[str, str]) -> None:
    job = job_with(helm, helm_env, "migration.argocdHook=PreSync")
    assert job["metadata"]["annotations"] == {**HELM_HOOKS, "argocd.argoproj.io/hook": "PreSync"}


@pytest.mark.parametrize("seconds", [0, 300])
def test_the_job_can_be_deleted_once_finished(
    helm: Path, helm_env: dict[str, str], seconds: int
) -> None:
    job = job_with(helm, helm_env, f"migration.ttlSecondsAfterFinished={seconds}")
    assert job["spec"]["ttlSecondsAfterFinished"] == seconds


def test_the_hardening_limits_can_be_lifted(helm: Path, helm_env: dict[str, str]) -> None:
    """null: Kubernetes' defaults (six attempts, no deadline), the seed Job's."""
    spec = job_with(
        helm, helm_env, "migration.backoffLimit=null", "migration.activeDeadlineSeconds=null"
    )["spec"]
    assert "backoffLimit" not in spec
    assert "activeDeadlineSeconds" not in spec
    assert spec["podFailurePolicy"]  # the rest of the hardening stays


def test_no_secret_is_rendered_and_the_service_never_selects_the_migration_pod(
    helm: Path, helm_env: dict[str, str]
) -> None:
    objects = template(helm, helm_env)
    assert [o for o in objects if o["kind"] == "Secret"] == []
    selector = the("Service", objects)["spec"]["selector"]
    job_labels = the("Job", objects)["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= job_labels.items()


class CommittedTree:
    """A Git branch that keeps the last tree committed to it, in place of the server's."""

    name = "e2e-chart"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def commit(self, tree: Path, message: str) -> str:
        shutil.rmtree(self.folder, ignore_errors=True)
        shutil.copytree(tree, self.folder)
        return "0" * 40


def test_a_release_of_the_chart_variant_commits_values_helm_renders(
    helm: Path, helm_env: dict[str, str], tmp_path: Path
) -> None:
    """What the e2e scenarios commit (e2e/bookshop.py, variant "chart"): the chart's own
    values.yaml with the release's image.tag, the scenario's values and the release's."""
    from e2e.bookshop import CHART, CHART_PATH, Bookshop, ImageNames

    committed = tmp_path / "branch"
    images = ImageNames("migration-e2e.local/my-django-app", "postgres:15-bookworm")
    branch = CommittedTree(committed)
    shop = Bookshop(None, None, None, "e2e-chart", CHART, images, branch)  # no cluster
    shop.chart_values = {"migration": {"helmHook": "post-install,pre-upgrade"}}
    shop.release("v3.1", values={"migration": {"ttlSecondsAfterFinished": 0}})

    result = run_helm(helm, helm_env, "template", "bookshop", str(committed / CHART_PATH))
    assert result.returncode == 0, result.stderr
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert images_of(objects) == {"migration-e2e.local/my-django-app:v3.1"}
    job = the("Job", objects)
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    assert job["spec"]["ttlSecondsAfterFinished"] == 0
    assert job["spec"]["backoffLimit"] == 0  # the chart's own values stay
    with pytest.raises(ValueError, match="released by its values"):
        shop.release("v3.1", job_patch={"spec": {"backoffLimit": 1}})
