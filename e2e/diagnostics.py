"""What a failed scenario leaves for its reader: everything needed to see why, without
rerunning it, written to the artifacts folder and summed up in the pytest report."""

import contextlib
from pathlib import Path

import yaml
from kubernetes.client.exceptions import ApiException

from e2e.argocd import NAMESPACE as ARGOCD_NAMESPACE
from e2e.bookshop import Bookshop


def collect(shop: Bookshop, folder: Path) -> str:
    """Write the scenario's evidence under `folder`; return a short summary."""
    folder.mkdir(parents=True, exist_ok=True)
    kube, ns = shop.kube, shop.namespace
    lines: list[str] = [f"namespace {ns} (files in {folder})"]
    for app in (shop.app, shop.postgres):
        with contextlib.suppress(ApiException):
            obj = app.get()
            (folder / f"application-{app.name}.yaml").write_text(yaml.safe_dump(obj))
            state = obj.get("status", {}).get("operationState", {})
            lines.append(
                f"  {app.name}: operation {state.get('phase')}: "
                f"{str(state.get('message', ''))[:300]}"
            )
            for res in state.get("syncResult", {}).get("resources", []):
                if res.get("hookType"):
                    lines.append(
                        f"    hook {res['kind']}/{res['name']}: {res.get('hookPhase')} "
                        f"{str(res.get('message', ''))[:200]}"
                    )
    jobs = kube.batch.list_namespaced_job(ns).items
    (folder / "jobs.yaml").write_text(yaml.safe_dump(kube.api.sanitize_for_serialization(jobs)))
    for job in jobs:
        conditions = [f"{c.type}={c.status} ({c.reason})" for c in job.status.conditions or []]
        lines.append(
            f"  job {job.metadata.name}: active={job.status.active} "
            f"failed={job.status.failed} {' '.join(conditions)}"
        )
    pods = kube.core.list_namespaced_pod(ns).items
    (folder / "pods.yaml").write_text(yaml.safe_dump(kube.api.sanitize_for_serialization(pods)))
    for pod in pods:
        for container in pod.spec.containers:
            with contextlib.suppress(ApiException):
                log = kube.core.read_namespaced_pod_log(
                    pod.metadata.name, ns, container=container.name, tail_lines=2000
                )
                (folder / f"log-{pod.metadata.name}-{container.name}.txt").write_text(log)
                if pod.metadata.labels.get("job-name"):
                    tail = log.strip().splitlines()[-5:]
                    lines += [f"    {pod.metadata.name}: {line}" for line in tail]
    events = sorted(
        kube.core.list_namespaced_event(ns).items,
        key=lambda e: str(e.last_timestamp or e.event_time or ""),
    )
    (folder / "events.txt").write_text("\n".join(_event(e) for e in events))
    lines += [f"  event {_event(e)}" for e in events[-6:]]
    controller = kube.core.list_namespaced_pod(
        ARGOCD_NAMESPACE, label_selector="app.kubernetes.io/name=argocd-application-controller"
    ).items
    for pod in controller:
        with contextlib.suppress(ApiException):
            log = kube.core.read_namespaced_pod_log(
                pod.metadata.name, ARGOCD_NAMESPACE, tail_lines=3000
            )
            relevant = [line for line in log.splitlines() if ns in line]
            (folder / "argocd-application-controller.log").write_text("\n".join(relevant))
    return "\n".join(lines)


def _event(event: object) -> str:
    when = event.last_timestamp or event.event_time
    obj = event.involved_object
    return f"{when} {event.type} {obj.kind}/{obj.name} {event.reason}: {event.message}"
