"""Argo CD, the Git server and the workload images work, before any scenario uses them."""

import tempfile
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from e2e import argocd as argocd_install
from e2e import gitserver
from e2e.application import Application
from e2e.cli import ArgoCDCLI
from e2e.conftest import Bookshops, Cluster
from e2e.kube import condition, namespace, run_pod, unique_name
from e2e.kubectl import Kubectl
from e2e.waits import Outcome, pending, succeeded, wait_until

pytestmark = pytest.mark.argocd


def test_every_argo_cd_workload_is_ready(cluster: Cluster, argocd: str) -> None:
    message = wait_until(lambda: argocd_install.workloads_ready(cluster.kube), 60, "Argo CD")
    assert "Ready" in message


def test_an_application_syncs_a_manifest_from_the_git_server(
    cluster: Cluster,
    kubectl: Kubectl,
    argocd_cli: ArgoCDCLI,
    argocd: str,
    git_server: str,
    tmp_path: Path,
) -> None:
    # Given a trivial manifest committed to a branch of the in-cluster Git server
    name = unique_name("e2e-trivial")
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "trivial"},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "none"}},
    }
    with tempfile.TemporaryDirectory() as tmp, namespace(cluster.kube, name):
        (Path(tmp) / "trivial").mkdir()
        (Path(tmp) / "trivial/service.yaml").write_text(yaml.safe_dump(service))
        revision = gitserver.Branch(kubectl, tmp_path / "git", name).commit(Path(tmp), "trivial")
        # When an Application for it is synced with `argocd app sync`
        template = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "spec": {
                "project": "migration-e2e",
                "source": {},
                "destination": {"server": "https://kubernetes.default.svc"},
            },
        }
        app = Application(cluster.kube, argocd_cli, name).create(
            template, namespace=name, path="trivial", revision=name, repo_url=git_server
        )
        try:
            sync = app.sync(revision)
            # Then it is Synced and Healthy, at that revision, and the Service exists
            assert sync.phase == "Succeeded", sync.message
            wait_until(app.healthy_and_synced, 60, "the app to be Synced/Healthy")
            assert app.status()["sync"]["revision"] == revision
            assert cluster.kube.core.read_namespaced_service("trivial", name)
        finally:
            app.delete()


def replaced_and_ready(cluster: Cluster, namespace: str, name: str, old_uid: str) -> Outcome:
    try:
        pod = cluster.kube.core.read_namespaced_pod(name, namespace)
    except ApiException as err:
        if err.status == 404:
            return pending(f"{name} to be recreated")
        raise
    if pod.metadata.uid != old_uid and condition(pod, "Ready"):
        return succeeded(f"a new {name} is Ready")
    return pending(f"a new {name} to be Ready (same pod: {pod.metadata.uid == old_uid})")


def test_postgres_keeps_its_data_across_a_restart_and_v1_migrates_it(
    bookshops: Bookshops, cluster: Cluster
) -> None:
    # Given Postgres synced by Argo CD in a namespace of its own (no app yet)
    shop = bookshops.make("postgres-restart", deploy=False, durable_database=True)
    try:
        # When a row is written with the Secret's credentials, and the pod restarts
        with shop.database() as db:
            db.query("CREATE TABLE proof (word text)")
            db.query("INSERT INTO proof VALUES ('kept')")
        old = cluster.kube.core.read_namespaced_pod("postgres-0", shop.namespace).metadata.uid
        cluster.kube.core.delete_namespaced_pod("postgres-0", shop.namespace)
        wait_until(
            lambda: replaced_and_ready(cluster, shop.namespace, "postgres-0", old),
            180,
            "a new postgres-0 to be Ready",
        )
        # Then the row is still there (the data lives on the PVC)
        with shop.database() as db:
            assert db.query("SELECT word FROM proof") == [("kept",)]
        # And the app's v1.0 image migrates it, with the settings the Secret holds
        volume = client.V1Volume(
            name="settings", secret=client.V1SecretVolumeSource(secret_name="django-settings")
        )
        mount = client.V1VolumeMount(
            name="settings",
            mount_path="/var/www/django/my-project/settings.py",
            sub_path="settings.py",
        )
        output = run_pod(
            cluster.kube,
            shop.namespace,
            "migrate",
            f"{shop.images.app_repository}:v1.0",
            ["python3", "manage.py", "migrate"],
            volumes=[volume],
            mounts=[mount],
        )
        assert "Applying bookshop.0001_initial... OK" in output
    finally:
        bookshops.remove(shop)
