"""The manifests render, the seed's Job is the post's to the letter, the hardened one is
the seed plus exactly its hardening, and no secret is committed."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import ROOT
from tests.rendered import kustomized, the

MANIFESTS = ROOT / "manifests"
SEED_POST = ROOT.parent / "shared/seed/django-db-migration-job-with-argocd.txt"
JOB_SCRIPTS = ROOT / "sample_django_app/job-scripts"
OVERLAYS = ("seed", "hardened")


def job_of(kustomize: Path, overlay: str) -> dict[str, Any]:
    return the("Job", kustomized(kustomize, MANIFESTS / "app/overlays" / overlay))


def script_of(job: dict[str, Any]) -> str:
    return job["spec"]["template"]["spec"]["containers"][0]["command"][2]


def seed_post_job() -> dict[str, Any]:
    """The Job as printed in the post: from its `apiVersion: batch/v1` to the last line."""
    text = SEED_POST.read_text()
    start = text.index("apiVersion: batch/v1")
    end = text.index("This works really well")
    return yaml.safe_load(text[start:end])


@pytest.mark.parametrize(
    "path",
    ["", "postgres", "app/overlays/seed", "app/overlays/hardened"],
    ids=["argocd", "postgres", "seed", "hardened"],
)
def test_every_kustomization_renders(kustomize: Path, path: str) -> None:
    assert kustomized(kustomize, MANIFESTS / path)


@pytest.mark.skipif(not SEED_POST.exists(), reason=f"the post is not at {SEED_POST}")
def test_the_seed_job_is_the_posts_job_field_by_field(kustomize: Path) -> None:
    assert job_of(kustomize, "seed") == seed_post_job()


def test_the_seed_script_has_no_set_e_and_matches_the_scripts_the_app_tests_run(
    kustomize: Path,
) -> None:
    script = script_of(job_of(kustomize, "seed"))
    assert "set -e" not in script
    assert script == (JOB_SCRIPTS / "seed.sh").read_text()


def test_the_hardened_job_is_the_seed_plus_its_hardening_only(kustomize: Path) -> None:
    seed, hardened = job_of(kustomize, "seed"), job_of(kustomize, "hardened")
    spec, pod = hardened["spec"], hardened["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert spec["backoffLimit"] == 0
    assert spec["podFailurePolicy"]["rules"] == [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    ]
    assert spec["activeDeadlineSeconds"] > 0
    assert "ttlSecondsAfterFinished" not in spec, "the Job must stay until the next sync"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    script = script_of(hardened)
    assert "set -euo pipefail" in script
    assert script == (JOB_SCRIPTS / "hardened.sh").read_text()

    # Undo exactly the hardening: what is left must be the seed's Job.
    for key in ("backoffLimit", "podFailurePolicy", "activeDeadlineSeconds"):
        del spec[key]
    del pod["securityContext"]
    del container["securityContext"]
    container["command"] = seed["spec"]["template"]["spec"]["containers"][0]["command"]
    container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] != "tmp"]
    pod["volumes"] = [v for v in pod["volumes"] if v["name"] != "tmp"]
    assert hardened == seed


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_edit_switches_the_release(kustomize: Path, overlay: str, tmp_path: Path) -> None:
    """kustomize `images:` sets the tag of the Job and the Deployment alike."""
    kustomization = MANIFESTS / "app/overlays" / overlay / "kustomization.yaml"
    assert "newTag: v1.0" in kustomization.read_text()
    images = {
        c["image"]
        for obj in kustomized(kustomize, MANIFESTS / "app/overlays" / overlay)
        if obj["kind"] in ("Job", "Deployment")
        for c in obj["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"my-django-app:v1.0"}


def test_no_secret_value_is_committed(kustomize: Path) -> None:
    objects = [
        obj
        for path in ("", "postgres", "app/overlays/seed", "app/overlays/hardened")
        for obj in kustomized(kustomize, MANIFESTS / path)
    ]
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "Secret"] == []
    literal_secrets = [
        env["name"]
        for obj in objects
        if obj["kind"] in ("Deployment", "StatefulSet", "Job")
        for c in obj["spec"]["template"]["spec"]["containers"]
        for env in c.get("env", [])
        if "value" in env and any(w in env["name"] for w in ("PASSWORD", "SECRET", "TOKEN"))
    ]
    assert literal_secrets == []


def test_the_web_service_never_selects_the_migration_pod(kustomize: Path) -> None:
    objects = kustomized(kustomize, MANIFESTS / "app/overlays/seed")
    selector = the("Service", objects)["spec"]["selector"]
    job_labels = the("Job", objects)["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= job_labels.items()


def test_the_project_admits_only_the_test_namespaces(kustomize: Path) -> None:
    project = the("AppProject", kustomized(kustomize, MANIFESTS))
    namespaces = [d["namespace"] for d in project["spec"]["destinations"]]
    assert namespaces == ["e2e-*"]
    apps = [o for o in kustomized(kustomize, MANIFESTS) if o["kind"] == "Application"]
    assert {a["spec"]["destination"]["namespace"] for a in apps} == {"e2e-bookshop"}
