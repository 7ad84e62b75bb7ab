"""`python3 suite.py benchmark --runs N [pytest args]`: the e2e suite N times, timed.

Why: to know what a run costs and where it goes (images, the cluster, Argo CD, each
scenario), how much a kept cluster saves, and how long a broken migration holds a rollout
with backoffLimit 6 against 0, measured on a named machine rather than remembered.

Each run is a normal `pytest e2e` session with its own artifacts folder
(artifacts/benchmark/run-<i>/: JUnit XML, timings.jsonl, time-to-fail.json). Run 1 is
cold: it creates the kind cluster, and it alone measures the time to fail with the default
back-off (about 11 minutes). Runs 2..N are warm: they reuse that cluster (every run gets
`--keep-cluster`), and the benchmark deletes it after the last. The table, per run and
min/median/max of the warm runs, goes to artifacts/benchmark.md and .json.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import suite  # the entry point: its `run` lets Ctrl-C reach pytest, then waits for it
from e2e import cluster as clusters
from e2e import timings
from harness import ROOT
from images import engine

STATS = ("min", "median", "max")
NOTES = """\
- **cold** (run 1): the run creates the kind cluster, loads every image into the new node and
  installs Argo CD from scratch. Images that were not built yet are built in it ("image build").
- **warm** (runs 2 and later): the same cluster again (`--keep-cluster`): nothing to create,
  the images already on the node (kind skips them), Argo CD re-applied unchanged. The
  benchmark deletes the cluster after the last run.
- Session phases are summed over a run; a phase inside another counts only in its own row.
  Scenarios run side by side on the suite's pytest-xdist workers, so the rows do not add
  up to the total.
- "time to fail": how long the sync of a broken release was held before it failed, by the
  Job's backoffLimit (the post's Job leaves it at the default, 6; the hardened one sets 0).
  Measured in run 1 only (`--measure-time-to-fail`, about 11 minutes beside the other
  scenarios): the warm runs are the suite without it.
- "total": the pytest session's wall time, start to exit.
"""


def parse(argv: list[str]) -> tuple[int, list[str]]:
    """`--runs N`; everything else is pytest's."""
    parser = argparse.ArgumentParser(
        prog="python3 suite.py benchmark", description=__doc__, allow_abbrev=False
    )
    parser.add_argument("--runs", type=int, default=3, help="how many runs [default: 3]")
    ours, pytest_args = parser.parse_known_args(argv)
    if ours.runs < 1:
        parser.error("--runs must be at least 1")
    return ours.runs, pytest_args


def session_options(pytest_args: list[str]) -> argparse.Namespace:
    """The pytest options the benchmark must know about, read (not taken) from its args."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--artifacts-dir", default="artifacts")
    parser.add_argument("--cluster-name", default="pytest-kind")
    parser.add_argument("--keep-cluster", action="store_true")
    parser.add_argument("--kubeconfig")
    parser.add_argument("--images", default="auto")
    parser.add_argument("--kind-bin")
    return parser.parse_known_args(pytest_args)[0]


def delete_cluster(options: argparse.Namespace) -> None:
    """The cluster the runs kept: after the last run, or when a run was interrupted."""
    from images import hosttools
    from images.registry import resolve_image_path

    kind = Path(options.kind_bin) if options.kind_bin else None
    if kind is None:
        kind = hosttools.kind(resolve_image_path(options.images)[0])
    print(f"benchmark: deleting the kind cluster {options.cluster_name}", flush=True)
    clusters.delete_cluster(options.cluster_name, kind)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    info = engine.client().info()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = info.get("MemTotal", 0)
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory / 2**30, 1),
        "os": platform.platform(),
        "docker": info.get("ServerVersion"),
        "docker_cpus": info.get("NCPU"),
        "docker_memory_gib": round(info.get("MemTotal", 0) / 2**30, 1),
        "python": platform.python_version(),
        "commit": commit or None,
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def tests_summary(junit: Path) -> dict[str, int]:
    """Counts from the run's JUnit XML (empty when the run wrote none)."""
    if not junit.exists():
        return {}
    root = ET.parse(junit).getroot()
    node = root if root.tag == "testsuite" else root.find("testsuite")
    if node is None:
        return {}
    counts = {key: int(node.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return counts


def collect(folder: Path, number: int, kind: str, exit_code: int, total: float) -> dict:
    """One run's numbers, from what its session wrote to its artifacts folder."""
    entries = timings.read(folder)
    time_to_fail = folder / "time-to-fail.json"
    return {
        "run": number,
        "kind": kind,
        "exit_code": exit_code,
        "total_s": round(total, 1),
        "tests": tests_summary(folder / "junit-e2e.xml"),
        "phases": timings.phases(entries),
        "scenarios": {e["test"]: e["duration_s"] for e in timings.scenarios(entries)},
        "time_to_fail": json.loads(time_to_fail.read_text()) if time_to_fail.exists() else {},
    }


def _series(
    runs: list[dict], key: str, label: str, pick: Callable[[Any], float] = float
) -> list[tuple[str, list[float | None]]]:
    """Each name found under `key` in any run, with its value in every run (or None)."""
    names = dict.fromkeys(name for one in runs for name in one[key])
    return [
        (label.format(name), [pick(one[key][name]) if name in one[key] else None for one in runs])
        for name in names
    ]


def rows(runs: list[dict]) -> list[dict[str, Any]]:
    """One row per measurement seen in any run: its value in each run and min/median/max
    over the warm runs."""
    measured = [
        *_series(runs, "phases", "{}"),
        *_series(runs, "scenarios", "scenario: {}"),
        *_series(runs, "time_to_fail", "time to fail, backoffLimit {}", lambda leg: leg["held_s"]),
        ("total", [one["total_s"] for one in runs]),
    ]
    table = []
    for name, values in measured:
        warm = [
            value
            for value, one in zip(values, runs, strict=True)
            if one["kind"] == "warm" and value is not None
        ]
        stats = (
            {"min": min(warm), "median": round(statistics.median(warm), 1), "max": max(warm)}
            if warm
            else {}
        )
        table.append({"name": name, "runs": values, "warm": stats})
    return table


def markdown(runs: list[dict], about: dict[str, Any]) -> str:
    host = about["machine"]
    stats = STATS if any(run["kind"] == "warm" for run in runs) else ()
    header = [f"run {run['run']} ({run['kind']})" for run in runs]
    header += [f"warm {stat}" for stat in stats]
    lines = [
        f"# e2e benchmark: {len(runs)} run(s)",
        "",
        f"Machine: {host['cores']} cores ({host['cpu']}), {host['memory_gib']} GiB memory, "
        f"{host['os']}; Docker {host['docker']} ({host['docker_cpus']} CPUs, "
        f"{host['docker_memory_gib']} GiB); Python {host['python']}; commit {host['commit']}.",
        "",
        f"Command: `{about['command']}`, started {about['started']}.",
        "",
        "| seconds | " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(header),
    ]
    for row in rows(runs):
        cells = [_cell(v) for v in row["runs"]]
        cells += [_cell(row["warm"].get(stat)) for stat in stats]
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    results = [_result(run) for run in runs] + [""] * len(stats)
    lines.append("| tests | " + " | ".join(results) + " |")
    if "cluster_delete_s" in about:
        lines += [
            "",
            f"Deleting the cluster after the last run took {about['cluster_delete_s']} s.",
        ]
    return "\n".join(lines) + "\n\n" + NOTES


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _result(run: dict) -> str:
    tests = run["tests"]
    if not tests:
        return f"exit {run['exit_code']}"
    failed = tests["failures"] + tests["errors"]
    return f"{tests['passed']} passed" + (f", {failed} failed" if failed else "")


def write(base: Path, runs: list[dict], about: dict[str, Any]) -> str:
    """benchmark.md and benchmark.json, rewritten after each run so an interrupted
    benchmark still leaves the runs it finished."""
    text = markdown(runs, about)
    (base / "benchmark.md").write_text(text)
    result = {**about, "runs": runs, "rows": rows(runs)}
    (base / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    return text


def main(argv: list[str]) -> int:
    count, pytest_args = parse(argv)
    options = session_options(pytest_args)
    base = Path(options.artifacts_dir)
    existed = not options.kubeconfig and clusters.node_containers(options.cluster_name)
    if existed and not options.keep_cluster:
        print(
            f"error: a kind cluster named {options.cluster_name!r} already exists: delete it, "
            "pick another --cluster-name, or pass --keep-cluster (then no run is cold)",
            file=sys.stderr,
        )
        return 2
    # The benchmark owns the cluster (every run keeps it, the benchmark deletes it after
    # the last) unless it was given one to run on or told to keep it. The suite has no
    # "reuse, then delete", so no run deletes it itself.
    owned = not options.kubeconfig and not options.keep_cluster
    shutil.rmtree(base / "benchmark", ignore_errors=True)
    about = {
        "machine": machine(),
        "command": shlex.join(
            ["python3", "suite.py", "benchmark", f"--runs={count}", *pytest_args]
        ),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    runs: list[dict] = []
    text = ""
    try:
        for number in range(1, count + 1):
            folder = base / "benchmark" / f"run-{number}"
            kind = "cold" if number == 1 and not existed and not options.kubeconfig else "warm"
            ours = [f"--artifacts-dir={folder}", f"--junitxml={folder / 'junit-e2e.xml'}"]
            if number == 1:  # 11 minutes, the same each time: once is enough
                ours.append("--measure-time-to-fail")
            if owned:
                ours.append("--keep-cluster")
            print(f"benchmark: run {number}/{count} ({kind})", flush=True)
            began = time.monotonic()
            code = suite.run([sys.executable, "-m", "pytest", "e2e", *pytest_args, *ours])
            runs.append(collect(folder, number, kind, code, time.monotonic() - began))
            text = write(base, runs, about)
    finally:
        if owned and clusters.node_containers(options.cluster_name):
            began = time.monotonic()
            delete_cluster(options)
            about["cluster_delete_s"] = round(time.monotonic() - began, 1)
            if runs:
                text = write(base, runs, about)
    print("\n" + text)
    print(f"benchmark: written to {base / 'benchmark.md'} and {base / 'benchmark.json'}")
    return 0 if all(run["exit_code"] == 0 for run in runs) else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
