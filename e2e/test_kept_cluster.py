"""A kept cluster stays usable: what runs keep on it for inspection is bounded."""

import uuid

import pytest
from kubernetes import client

from e2e import kept
from e2e.conftest import Cluster
from e2e.kube import unique_name

pytestmark = pytest.mark.cluster


def namespace_left_by(cluster: Cluster, session: str, kept_at: str | None = None) -> str:
    name = unique_name("left")
    annotations = {kept.KEPT_AT: kept_at} if kept_at else None
    meta = client.V1ObjectMeta(name=name, labels=kept.label(session), annotations=annotations)
    cluster.kube.core.create_namespace(client.V1Namespace(metadata=meta))
    return name


def still_there(cluster: Cluster, names: list[str]) -> list[str]:
    """Those not deleted (nor on their way out)."""
    live = {
        ns.metadata.name
        for ns in cluster.kube.core.list_namespace().items
        if ns.metadata.deletion_timestamp is None
    }
    return [name for name in names if name in live]


def test_a_run_frees_what_earlier_runs_left_but_the_newest_kept_failures(
    cluster: Cluster, testrun_uid: str
) -> None:
    # Given an earlier run's spare it never used, and five failures it kept
    earlier = uuid.uuid4().hex
    spare = namespace_left_by(cluster, earlier)
    failures = [
        namespace_left_by(cluster, earlier, kept_at=f"2099-01-0{day}T00:00:00+00:00")
        for day in range(1, 6)
    ]
    # And one of this run's own
    own = namespace_left_by(cluster, testrun_uid)
    try:
        # When a run frees what earlier runs left
        freed = kept.free_earlier_runs(cluster.kube, testrun_uid, keep=3)

        # Then the spare and the two oldest failures are gone
        assert {spare, *failures[:2]} <= set(freed)
        assert still_there(cluster, [spare, *failures[:2]]) == []
        # And the newest three, and this run's own, stay
        assert still_there(cluster, [*failures[2:], own]) == [*failures[2:], own]
    finally:
        for name in [*failures, own]:
            kept.remove(cluster.kube, name)
