"""Helm itself, as a user runs it (`helm upgrade --install`, `helm rollback`, `helm
history`), on the bookshop's chart: its hook semantics beside Argo CD's for the same chart.

Helm runs a hook per command: pre-install/post-install on the first `upgrade --install`,
pre-upgrade/post-upgrade on the next, pre-rollback/post-rollback on a rollback
(helm.sh/helm/v4 pkg/action: install.go performInstall, upgrade.go releasingUpgrade,
rollback.go performRollback, each calling execHook for its events). By default (Helm 4's
`--wait=hookOnly`) it waits for hooks only, not for the release's pods.
"""

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from e2e.bookshop import CHART_PATH, Bookshop
from harness import ROOT

CHART = ROOT / CHART_PATH
RELEASE = "bookshop"
# Helm's own defaults otherwise (--wait=hookOnly): the timeout of each hook's wait.
WAIT = ("--timeout", "5m")


@dataclass(frozen=True)
class Helm:
    binary: Path
    kubeconfig: Path

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The command's result, failed or not: a failed `helm upgrade` is a finding."""
        return subprocess.run(
            [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )


@dataclass
class HelmRelease:
    """The chart installed by Helm as release `bookshop` in `namespace`."""

    helm: Helm
    shop: Bookshop  # its namespace, images and chart_values

    def upgrade_install(self, tag: str) -> subprocess.CompletedProcess[str]:
        """`helm upgrade --install` of release `tag` (its image.tag, with the shop's
        chart_values), as a user's deploy script runs it."""
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
            yaml.safe_dump(self.shop.chart_release(tag, {}), file)
            file.flush()
            return self._helm(
                "upgrade", "--install", RELEASE, str(CHART), "--values", file.name, *WAIT
            )

    def rollback(self, revision: int) -> subprocess.CompletedProcess[str]:
        return self._helm("rollback", RELEASE, str(revision), *WAIT)

    def history(self) -> list[dict[str, Any]]:
        """`helm history`: each revision's number, status and description, oldest first."""
        result = self._helm("history", RELEASE, "--output", "json")
        if result.returncode != 0:
            raise RuntimeError(f"helm history: {result.stderr.strip()}")
        return json.loads(result.stdout)

    def statuses(self) -> list[tuple[int, str]]:
        return [(entry["revision"], entry["status"]) for entry in self.history()]

    def _helm(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.helm(*args, "--namespace", self.shop.namespace)
