"""The GitHub workflows pass actionlint, so a broken workflow fails here, not on GitHub.

actionlint also runs shellcheck on `run:` scripts (and pyflakes on Python ones) when they
are on PATH; without them it checks everything else.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import ROOT
from images import argocd_refs, hosttools
from images.pins import pins

WORKFLOWS = ROOT / ".github/workflows"

# A typo in an input's name: GitHub would run it with an empty version.
BROKEN_WORKFLOW = """\
name: broken
on:
  workflow_dispatch:
    inputs:
      argocd_version:
        type: string
jobs:
  e2e:
    runs-on: ubuntu-24.04
    steps:
      - run: echo "${{ inputs.argocd_verison }}"
"""


@pytest.fixture(scope="session")
def actionlint(image_path: str) -> Path:
    return hosttools.actionlint(image_path)


def run_actionlint(actionlint: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(actionlint), "-no-color", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_actionlint_is_the_pinned_version(actionlint: Path) -> None:
    result = run_actionlint(actionlint, "-version")
    assert result.stdout.splitlines()[0] == pins()["tools"]["actionlint"]["version"].lstrip("v")


def test_every_workflow_passes_actionlint(actionlint: Path) -> None:
    workflows = sorted(p for p in WORKFLOWS.iterdir() if p.suffix in (".yml", ".yaml"))
    assert workflows, f"no workflows in {WORKFLOWS}"
    result = run_actionlint(actionlint, *(str(p.relative_to(ROOT)) for p in workflows))
    report = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not report, f"actionlint:\n{report}"


def test_actionlint_fails_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN_WORKFLOW)
    result = run_actionlint(actionlint, "-format", "{{json .}}", str(broken))
    assert result.returncode == 1, result.stdout + result.stderr
    (error,) = json.loads(result.stdout)
    assert (error["kind"], error["line"]) == ("expression", 11)
    assert 'property "argocd_verison" is not defined' in error["message"]


def nightly() -> dict:
    return yaml.safe_load((WORKFLOWS / "nightly.yml").read_text())


def matrix_default(expression: str) -> list[str]:
    """The default list of a matrix entry `${{ fromJSON(input && ... || '[...]') }}`."""
    return json.loads(re.search(r"\|\| '(\[.*\])'", expression).group(1))


def test_each_nightly_kubernetes_leg_has_its_node_image_pinned_by_digest() -> None:
    matrix = nightly()["jobs"]["e2e"]["strategy"]["matrix"]
    pinned = pins()["kind"]["public_node_images"]
    for minor in matrix_default(matrix["kubernetes"]):
        assert minor in pinned, f"the nightly's Kubernetes {minor} has no image in versions.toml"


def test_the_nightly_saves_its_go_caches_when_a_leg_fails() -> None:
    """actions/cache saves only on success: a red master leg would start cold each night."""
    steps = nightly()["jobs"]["e2e"]["steps"]
    uses = {step.get("uses", "").partition("@")[0]: step for step in steps}
    assert "actions/cache" not in uses or "go" not in str(uses["actions/cache"]["with"]["path"])
    save = uses["actions/cache/save"]
    assert save["if"].startswith("always()"), save["if"]
    assert "argocd-migration-e2e/go" in save["with"]["path"]


def nightly_legs() -> list[dict[str, str]]:
    """The matrix's default legs, as GitHub expands them (exclude, then include)."""
    matrix = nightly()["jobs"]["e2e"]["strategy"]["matrix"]
    legs = [
        {"argocd": argocd, "images": images}
        for argocd in matrix_default(matrix["argocd"])
        for images in matrix_default(matrix["images"])
    ]
    legs = [leg for leg in legs if not any(leg.items() >= x.items() for x in matrix["exclude"])]
    for extra in matrix["include"]:
        for leg in legs:
            if all(leg.get(k, v) == v for k, v in extra.items()):
                leg.update(extra)
    return legs


def minor(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version)[:2])


def test_every_nightly_leg_upgrades_across_a_minor() -> None:
    """No upgrade leg may pass by skipping: each has an N-1 of an older minor, and the
    source legs the gitops-engine source that N-1 is built with."""
    steps = {step.get("name"): step for step in nightly()["jobs"]["e2e"]["steps"]}
    legs = nightly_legs()
    assert {(leg["argocd"], leg["images"]) for leg in legs} == {
        ("v3.6.1", "public"),
        ("v3.6.1", "source"),
        ("master", "source"),
    }
    for leg in legs:
        previous = leg.get("upgrade_from") or argocd_refs.upgrade_from(leg["argocd"], "public")
        assert previous, leg
        if leg["argocd"] != "master":
            assert minor(previous) < minor(leg["argocd"]), leg
        if leg["images"] == "source" and argocd_refs.needs_given_source(previous):
            assert "gitops-engine" in steps["Nested gitops-engine sources"]["run"]
            assert "--gitops-engine-source" in steps["End-to-end suite"]["run"]
