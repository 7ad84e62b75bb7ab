"""The GitHub workflows pass actionlint, so a broken workflow fails here, not on GitHub.

actionlint also runs shellcheck on `run:` scripts (and pyflakes on Python ones) when they
are on PATH; without them it checks everything else.
"""

import json
import subprocess
from pathlib import Path

import pytest

from harness import ROOT
from images import hosttools
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
