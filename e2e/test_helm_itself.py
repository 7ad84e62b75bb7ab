"""The same chart (manifests/chart/bookshop) installed and upgraded by Helm itself, as a
team without Argo CD deploys it: `helm upgrade --install` in a namespace of its own, on the
same cluster, database and images as e2e/test_helm_chart.py's Argo CD Application. Side by
side, where the two read the same `helm.sh/hook` differently (docs/findings.md, "The
migration Job as a Helm hook").

Helm runs a hook per command and event (helm.sh/helm/v4 pkg/action/install.go
performInstall, upgrade.go releasingUpgrade, rollback.go performRollback, each calling
execHook in hooks.go); Argo CD has no install, upgrade or rollback, only syncs.
"""

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from e2e.bookshop import CHART, Bookshop
from e2e.helm import Helm, HelmRelease
from e2e.kube import condition
from e2e.timeline import INF, Event, Timeline, job_finished, migration_then_deployment, web_pod
from e2e.waits import holds, wait_until

pytestmark = [pytest.mark.scenario]

HelmBookshop = tuple[Bookshop, HelmRelease]
POST_INSTALL = {"migration": {"helmHook": "post-install,pre-upgrade"}}


@pytest.fixture
def helm_bookshop(deploy_bookshop, helm: Helm) -> Callable[..., HelmBookshop]:
    """Given: a namespace with its settings Secret and database, and no Application: the
    chart is Helm's to install there (with `chart_values` in every release)."""

    def make(chart_values: dict[str, Any] | None = None) -> HelmBookshop:
        shop: Bookshop = deploy_bookshop(
            variant=CHART, chart_values=chart_values, deploy=False, application=False
        )
        return shop, HelmRelease(helm, shop)

    return make


def installed(release: HelmRelease, shop: Bookshop, *tags: str) -> None:
    """Each of `tags` upgraded to in turn, and rolled out (Helm waits for hooks only)."""
    for tag in tags:
        result = release.upgrade_install(tag)
        assert result.returncode == 0, result.stderr
        wait_until(partial(shop.rolled_out, tag), 300, f"{tag} to roll out")


def stored_before(first: Event, then: Event) -> bool:
    """Whether the API server stored `first`'s object before `then`'s: Helm creates a
    post-install hook milliseconds after the objects, within a timestamp's second and
    close to the jitter of two watches, so compare their creation's resourceVersions
    (the etcd revision of a single-etcd cluster, ordered across kinds)."""
    return int(first.obj.metadata.resource_version) < int(then.obj.metadata.resource_version)


def test_helm_runs_the_hook_before_the_objects_and_keeps_it_until_the_next(
    helm_bookshop,
) -> None:
    # Given a fresh namespace with its settings Secret and database
    shop, release = helm_bookshop()
    with Timeline(shop.kube, shop.namespace) as timeline:
        # When `helm upgrade --install` installs v1.0
        install = release.upgrade_install("v1.0")

    # Then revision 1 is deployed, recorded by Helm in a Secret of the namespace
    assert install.returncode == 0, install.stderr
    assert release.statuses() == [(1, "deployed")]
    assert "sh.helm.release.v1.bookshop.v1" in {s.metadata.name for s in shop.secrets()}
    # And the pre-install Job completed before the Deployment existed
    job_done, deployment_created = migration_then_deployment(timeline)
    assert job_done < deployment_created < INF, (job_done, deployment_created)
    # And the Job stays (before-hook-creation), and v1.0 serves its fixtures
    first = shop.migration_job()
    assert first is not None and first.status.succeeded == 1
    wait_until(lambda: shop.rolled_out("v1.0"), 300, "v1.0 to roll out")
    with shop.web() as web:
        status, books = web.get_json("/api/books")
    assert status == 200 and len(books["books"]) == 5

    # When v2.0 is upgraded to
    installed(release, shop, "v2.0")
    # Then a new pre-upgrade Job migrated it, the only one left, and revision 2 is deployed
    second = shop.migration_job()
    assert second.metadata.uid != first.metadata.uid and second.status.succeeded == 1
    assert [j.metadata.uid for j in shop.migration_jobs()] == [second.metadata.uid]
    assert release.statuses() == [(1, "superseded"), (2, "deployed")]
    assert shop.health()["release"] == "v2.0"


def test_a_failing_hook_fails_the_helm_upgrade_and_the_old_version_serves_on(
    helm_bookshop,
) -> None:
    # Given v2.0 installed by Helm
    shop, release = helm_bookshop()
    installed(release, shop, "v2.0")
    before = shop.served()

    # When v3.0, whose migration fails on Postgres, is upgraded to, while clients call
    with shop.probing() as probe:
        upgrade = release.upgrade_install("v3.0")

    # Then `helm upgrade` fails on the pre-upgrade hook, its revision recorded as failed
    assert upgrade.returncode != 0, upgrade.stdout
    assert "pre-upgrade hooks failed" in upgrade.stderr, upgrade.stderr
    assert release.statuses() == [(1, "deployed"), (2, "failed")]
    # And the Deployment was never touched: v2.0 answered all along, its database as it was
    assert holds(shop.still_on("v2.0", before.generation))
    assert probe.total > 0 and probe.errors == [], probe.errors[:5]
    assert shop.served() == before
    # And the failed Job and its logs are there to read (before-hook-creation)
    assert condition(shop.migration_job(), "Failed")
    assert "IntegrityError" in shop.job_logs()

    # When the fix, v3.1, is upgraded to
    installed(release, shop, "v3.1")
    # Then it deploys from the last deployed revision, the failed one left in the history
    # (upgrade.go prepareUpgrade: a failed last release upgrades from Releases.Deployed)
    assert release.statuses() == [(1, "superseded"), (2, "failed"), (3, "deployed")]
    assert shop.health()["release"] == "v3.1"


def test_post_install_pre_upgrade_runs_once_per_helm_command(
    helm_bookshop, record_property: Callable[[str, object], None]
) -> None:
    """Argo CD runs such a Job twice in every sync (test_helm_chart.py); Helm once: after
    the objects on an install, before them on an upgrade."""
    # Given a fresh namespace, the chart's Job a post-install,pre-upgrade hook
    shop, release = helm_bookshop(POST_INSTALL)
    with Timeline(shop.kube, shop.namespace) as timeline:
        # When `helm upgrade --install` installs v1.0
        install = release.upgrade_install("v1.0")

    # Then one Job ran, after the Deployment was created (post-install)
    assert install.returncode == 0, install.stderr
    (job,) = timeline.appeared("Job")
    deployment_created = timeline.first("Deployment", lambda e: e.type == "ADDED")
    job_done = timeline.of_object("Job", job.uid, job_finished)
    assert deployment_created and job_done
    assert stored_before(deployment_created, job), (deployment_created.at, job.at)
    # (and Helm, waiting for hooks only, did not wait for the pods to be Ready first)
    ready = timeline.first("Pod", web_pod("v1.0", ready=True))
    record_property(
        "install_s",
        {
            "deployment_created": round(deployment_created.at, 1),
            "job_created": round(job.at, 1),
            "job_done": round(job_done.at, 1),
            "first_pod_ready": ready and round(ready.at, 1),
        },
    )
    wait_until(lambda: shop.rolled_out("v1.0"), 300, "v1.0 to roll out")

    with Timeline(shop.kube, shop.namespace) as timeline:
        # When v2.0 is upgraded to
        installed(release, shop, "v2.0")
    # Then one Job ran, done before the first v2.0 pod (pre-upgrade)
    (upgrade_job,) = timeline.appeared("Job", besides=job.uid)
    upgrade_done = timeline.of_object("Job", upgrade_job.uid, job_finished)
    new_pod = timeline.first("Pod", web_pod("v2.0"))
    assert upgrade_done and new_pod
    assert upgrade_done.at < new_pod.at, (upgrade_done.at, new_pod.at)
    assert [j.metadata.uid for j in shop.migration_jobs()] == [upgrade_job.uid]


def test_helm_rollback_runs_no_upgrade_hook_and_puts_the_old_code_on_the_new_schema(
    helm_bookshop,
) -> None:
    """As `argocd app rollback` (test_rollback.py): rollback.go performRollback runs
    pre-rollback and post-rollback hooks only, and this Job is neither."""
    # Given v2.0 installed by Helm, then the fix release v3.1 (slugs deduped, then unique)
    shop, release = helm_bookshop()
    installed(release, shop, "v2.0", "v3.1")
    v3_job = shop.migration_job().metadata.uid
    before = shop.fingerprint()

    # When v2.0's revision is rolled back to, `helm rollback bookshop 1`
    rollback = release.rollback(1)

    # Then it succeeded as revision 3, and no migration ran: the Job is still v3.1's
    assert rollback.returncode == 0, rollback.stderr
    assert release.statuses() == [(1, "superseded"), (2, "superseded"), (3, "deployed")]
    job = shop.migration_job()
    assert job.metadata.uid == v3_job
    assert job.spec.template.spec.containers[0].image.endswith(":v3.1")
    # And v2.0's code rolled out onto v3.1's schema, which it serves, data untouched
    wait_until(lambda: shop.rolled_out("v2.0"), 300, "the rollback's v2.0 to roll out")
    health = shop.health()
    assert health["release"] == "v2.0" and health["pending"] == [], health
    assert health["migrations"]["bookshop"].startswith("0004"), health
    assert shop.fingerprint() == before
