"""What a failed scenario leaves for its reader: everything needed to see why, without
rerunning it, written to the artifacts folder and summed up in the pytest report."""

import contextlib
import shutil
from pathlib import Path

import yaml
from kubernetes.client.exceptions import ApiException

from e2e import kept, recording
from e2e.argocd import NAMESPACE as ARGOCD_NAMESPACE
from e2e.bookshop import Bookshop

# What a run writes to the artifacts folder besides JUnit XML (which it overwrites).
RUN_FILES = (
    "timings.jsonl",
    "timings.md",
    "time-to-fail.json",
    "upgrade-report.md",
    "upgrade-report.json",
    "report.html",
    "report-summary.md",
    "session.json",
    kept.LIST,
)
RUN_FILE_PATTERNS = ("argocd-cli-*.log",)  # every argocd command of a session, per worker


def folder_for(artifacts: Path, test: str, namespace: str) -> Path:
    return artifacts / test / namespace


GIVEN = "given-"  # a given's failure, not the scenario's own: its folder's prefix


def folder_for_given(artifacts: Path, namespace: str) -> Path:
    return artifacts / f"{GIVEN}{namespace}"


def clear_previous(artifacts: Path) -> list[Path]:
    """A run starts with no evidence of the one before: a failure that is fixed must not
    stay on show next to a green run. Only what a run writes goes: its files, and folders
    shaped as `folder_for` makes them (a test's folder holding e2e-* namespaces only)."""
    gone = [artifacts / name for name in RUN_FILES if (artifacts / name).is_file()]
    gone += [path for pattern in RUN_FILE_PATTERNS for path in artifacts.glob(pattern)]
    if (artifacts / recording.FOLDER).is_dir():
        gone.append(artifacts / recording.FOLDER)
    if artifacts.is_dir():
        for entry in artifacts.iterdir():
            if not entry.is_dir() or entry.is_symlink():
                continue
            if entry.name.startswith(f"{GIVEN}e2e-") or (
                entry.name.startswith("test_")
                and (children := list(entry.iterdir()))
                and all(child.is_dir() and child.name.startswith("e2e-") for child in children)
            ):
                gone.append(entry)
    for path in gone:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return gone


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
    commands = [result for app in (shop.postgres, shop.app) for result in app.commands]
    (folder / "argocd-commands.txt").write_text("\n\n".join(map(str, commands)))
    lines += [f"  {line}" for r in commands if r.returncode for line in str(r).splitlines()]
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
