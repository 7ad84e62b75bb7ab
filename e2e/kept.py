"""What a kept cluster holds on to between runs, and how to free it.

With --keep-cluster a failed scenario's namespace (its Postgres, app, Jobs and pods) and
its two Applications are left for inspection. Runs add up: about ten in a row with a few
failures each left a cluster that could bring no new Postgres to Healthy. So the first
thing a session on a kept cluster does is remove what earlier runs left there: every
spare of an interrupted run, and every kept failure but the newest KEEP. The run's last
lines say what it kept and how to free it at once.
"""

import datetime
import logging
from pathlib import Path

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from e2e.argocd import GROUP, NAMESPACE, VERSION
from e2e.kube import Kube

log = logging.getLogger(__name__)

SESSION_LABEL = "migration-e2e/session"  # on every namespace a session's bookshops make
KEPT_AT = "migration-e2e/kept-at"  # on a failed scenario's namespace, when it was kept
KEEP = 3
LIST = "kept-for-inspection.txt"  # in the artifacts folder: namespace, scenario


def label(session: str) -> dict[str, str]:
    return {SESSION_LABEL: session}


def keep(kube: Kube, namespace: str, scenario: str, artifacts: Path) -> None:
    """A failed scenario's namespace stays, marked with when, and listed for the summary."""
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    kube.core.patch_namespace(namespace, {"metadata": {"annotations": {KEPT_AT: now}}})
    keep_listed(artifacts, namespace, scenario)


def keep_listed(artifacts: Path, namespace: str, scenario: str) -> None:
    artifacts.mkdir(parents=True, exist_ok=True)
    with (artifacts / LIST).open("a") as listed:
        listed.write(f"{namespace} {scenario}\n")


def free_earlier_runs(kube: Kube, session: str, keep: int = KEEP) -> list[str]:
    """Removes what sessions other than `session` left: all but their newest `keep`
    kept failures. Returns the namespaces removed."""
    earlier = [
        ns
        for ns in kube.core.list_namespace(label_selector=SESSION_LABEL).items
        if ns.metadata.labels[SESSION_LABEL] != session
    ]
    kept = sorted(
        (ns for ns in earlier if KEPT_AT in (ns.metadata.annotations or {})),
        key=lambda ns: ns.metadata.annotations[KEPT_AT],
        reverse=True,
    )[:keep]
    names = {ns.metadata.name for ns in kept}
    freed = [ns.metadata.name for ns in earlier if ns.metadata.name not in names]
    for name in freed:
        remove(kube, name)
    if freed:
        log.info("freed what earlier runs left on the cluster: %s", ", ".join(freed))
    return freed


def remove(kube: Kube, namespace: str) -> None:
    """A bookshop's Applications (named after its namespace) and its namespace."""
    for application in (namespace, f"{namespace}-postgres"):
        try:
            kube.custom.delete_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, "applications", application
            )
        except ApiException as err:
            if err.status != 404:
                raise
    try:
        kube.core.delete_namespace(namespace, body=client.V1DeleteOptions())
    except ApiException as err:
        if err.status != 404:
            raise


def summary(artifacts: Path, cluster: str) -> list[str]:
    """What this run kept, and how to free it; nothing if it kept nothing."""
    listed = artifacts / LIST
    if not listed.exists():
        return []
    rows = [line.split(" ", 1) for line in listed.read_text().splitlines() if line]
    names = " ".join(namespace for namespace, _ in rows)
    apps = " ".join(f"{ns} {ns}-postgres" for ns, _ in rows)
    context = f"--context kind-{cluster}"
    return [
        *(f"kept for inspection: namespace {ns} ({scenario})" for ns, scenario in rows),
        f"the next run on this cluster removes all but the newest {KEEP} kept failures; "
        f"to free these now: kubectl {context} -n {NAMESPACE} delete applications {apps} "
        f"&& kubectl {context} delete namespace {names}",
    ]
