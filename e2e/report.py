"""artifacts/report.html: what a session saw, in one self-contained page.

A summary (verdicts, durations, versions, the session's phases), then each scenario: its
story, its verdict and a timeline picture drawn from its recording (e2e/recording.py).
The findings are about order and time (the Job finished before the new ReplicaSet, the
old version answered on), which a picture says at a glance.

Drawn as plain SVG with the standard library's ElementTree: a few rectangles and lines per
lane are smaller and clearer than a plotting library, and the page needs no script, font
or stylesheet from the network (CI and many users are air-gapped). Markdown the session
writes (timings, the upgrade report, the benchmark) goes in through Python-Markdown.
"""

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import markdown
import pytest

from e2e import recording, timings
from e2e.diagnostics import folder_for

NAME = "report.html"
SUMMARY = "report-summary.md"
SESSION = "session.json"  # versions and image path, written by the session's Argo CD fixture
MARKDOWN = ("upgrade-report.md", "benchmark.md", "timings.md")

# Layout of a picture, in pixels.
LABEL_W, PLOT_W, LANE_H, GAP, TOP, AXIS_H = 230, 860, 16, 4, 24, 24

COLOURS = {
    # the sync operation
    "Running": "#6c9bd2",
    "Terminating": "#e0a040",
    "Succeeded": "#3c9a5f",
    "Failed": "#d0453a",
    "Error": "#8b1e1e",
    # Jobs and pods
    "pending": "#c8c8c8",
    "Pending": "#c8c8c8",
    "running": "#6c9bd2",
    "succeeded": "#3c9a5f",
    "failed": "#d0453a",
    "ready": "#3c9a5f",
    "unready": "#e8c56a",
    "terminating": "#e08a40",
    # probe answers
    "ok": "#3c9a5f",
    "error": "#d0453a",
}
VERDICT_ORDER = {"failed": 0, "error": 1, "interrupted": 2, "passed": 3, "skipped": 4}


@dataclass
class Lane:
    label: str
    bars: list[tuple[float, float, str, str]] = field(
        default_factory=list
    )  # from, to, colour, title
    title: str = ""


# -- lanes from a recording --------------------------------------------------------------


def origin(rec: dict[str, Any]) -> float:
    """The first sync's start: the Application's first operation seen Running."""
    for event in rec["events"]:
        if event["kind"] == "Application" and event.get("operation"):
            return event["at"]
    return 0.0


def lanes(rec: dict[str, Any]) -> list[Lane]:
    """Sync operations, then each migration Job and its pods, each ReplicaSet, each web
    pod, and the probe's answers, in the order they first appeared."""
    end = rec["ended_s"]
    events = rec["events"]
    by_uid: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_uid.setdefault(event["uid"], []).append(event)
    # No Application (Helm itself installed the chart): no Argo CD lanes to draw.
    argocd = any(e["kind"] == "Application" for e in events)
    result = [_sync_lane(events, end), _hook_lane(events, end)] if argocd else []
    jobs = [e for e in _firsts(events) if e["kind"] == "Job"]
    pods = [e for e in _firsts(events) if e["kind"] == "Pod"]
    for number, job in enumerate(jobs, 1):
        release = job.get("release", "")
        result.append(_object_lane(f"migration Job #{number} ({release})", by_uid[job["uid"]], end))
        for pod in pods:
            if pod.get("role") == "migration" and pod.get("owner") == job["uid"]:
                result.append(
                    _object_lane(f"\u21b3 its pod {_suffix(pod['name'])}", by_uid[pod["uid"]], end)
                )
    for rs in (e for e in _firsts(events) if e["kind"] == "ReplicaSet"):
        result.append(
            _object_lane(
                f"ReplicaSet {rs.get('release', '')}", by_uid[rs["uid"]], end, replicas=True
            )
        )
    for pod in pods:
        if pod.get("role") == "web":
            label = f"web pod {pod.get('release', '')} {_suffix(pod['name'])}"
            result.append(_object_lane(label, by_uid[pod["uid"]], end, pod=True))
    if rec.get("probe"):
        result.append(_probe_lane(rec["probe"]))
    return [lane for lane in result if lane.bars or lane.label == "sync operation"]


def _firsts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for event in events:
        seen.setdefault(event["uid"], event)
    return list(seen.values())


def _suffix(name: str) -> str:
    return name.rsplit("-", 1)[-1]


def _operations(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The Application's events, one list per operation (by its startedAt)."""
    operations: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if event["kind"] == "Application" and event.get("operation"):
            operations.setdefault(event["operation"], []).append(event)
    return list(operations.values())


def _until_the_next(
    operations: list[list[dict[str, Any]]], end: float
) -> list[tuple[list[dict[str, Any]], float]]:
    """Each operation's events, and when the next one started (the last: `end`)."""
    return [
        (seen, following[0]["at"] if following else end)
        for seen, following in pairwise([*operations, None])
        if seen is not None
    ]


def _sync_lane(events: list[dict[str, Any]], end: float) -> Lane:
    """Each operation's phase over time, as `argocd app get` would have shown it: Running
    (or Terminating) until it ended, then how it ended, until the next one started."""
    lane = Lane("sync operation")
    for seen, next_start in _until_the_next(_operations(events), end):
        revision = seen[-1].get("revision", "")
        for event, following in pairwise([*seen, None]):
            stop = following["at"] if following else next_start
            title = f"sync {revision}: {event['state']}"
            if event.get("message"):
                title += f": {event['message']}"
            lane.bars.append((event["at"], stop, COLOURS.get(event["state"], "#999"), title))
    return lane


def _hook_lane(events: list[dict[str, Any]], end: float) -> Lane:
    """The migration hook's phase as Argo CD recorded it in the operation's result."""
    lane = Lane("hook phase in Argo CD")
    for seen, next_start in _until_the_next(_operations(events), end):
        hooked = [e for e in seen if e.get("hook")]
        for event, following in pairwise([*hooked, None]):
            stop = following["at"] if following else next_start
            colour = COLOURS.get(event["hook"], "#999")
            lane.bars.append((event["at"], stop, colour, f"hook {event['hook']}"))
    return lane


def _object_lane(
    label: str, seen: list[dict[str, Any]], end: float, *, pod: bool = False, replicas: bool = False
) -> Lane:
    """A bar per state the object was in, from its first event to its deletion."""
    lane = Lane(label, title=seen[0]["name"])
    for event, following in pairwise([*seen, None]):
        if event["state"] == "deleted":
            break
        stop = following["at"] if following else end
        state = event["state"]
        if pod and state == "Running":
            colour = COLOURS["ready" if event.get("ready") else "unready"]
        elif replicas:
            ready, _, wanted = state.partition("/")
            colour = (
                COLOURS["ready"]
                if ready == wanted != "0"
                else (COLOURS["pending"] if wanted == "0" else COLOURS["unready"])
            )
        else:
            colour = COLOURS.get(state, COLOURS["pending"])
        lane.bars.append((event["at"], stop, colour, f"{event['name']}: {state}"))
    return lane


def _probe_lane(answers: list[dict[str, Any]], bucket: float = 0.5) -> Lane:
    """The probe's answers in half-second buckets, red where any was not a 2xx."""
    lane = Lane("probe (GET through the Service)")
    buckets: dict[int, list[str]] = {}
    for answer in answers:
        buckets.setdefault(math.floor(answer["at"] / bucket), []).append(answer["outcome"])
    for index, outcomes in sorted(buckets.items()):
        bad = [o for o in outcomes if not o.startswith("2")]
        colour = COLOURS["error"] if bad else COLOURS["ok"]
        title = f"{len(outcomes)} answers" + (
            f", not ok: {', '.join(sorted(set(bad)))}" if bad else ""
        )
        lane.bars.append((index * bucket, (index + 1) * bucket, colour, title))
    return lane


# -- the picture ---------------------------------------------------------------------------


def picture(rec: dict[str, Any]) -> ET.Element:
    """The scenario's timeline: one lane a row, seconds from the first sync's start."""
    zero = origin(rec)
    rows = lanes(rec)
    marks = rec.get("marks", [])
    start = min([0.0, *(b[0] - zero for lane in rows for b in lane.bars)])
    stop = max(rec["ended_s"] - zero, start + 1)
    scale = PLOT_W / (stop - start)

    def x(at: float) -> float:
        return LABEL_W + (at - zero - start) * scale

    height = TOP + len(rows) * (LANE_H + GAP) + AXIS_H
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "class": "timeline",
            "width": str(LABEL_W + PLOT_W + 20),
            "height": str(height),
            "role": "img",
        },
    )
    ET.SubElement(svg, "title").text = f"timeline of {rec['test']} in {rec['namespace']}"
    for number, lane in enumerate(rows):
        y = TOP + number * (LANE_H + GAP)
        group = ET.SubElement(svg, "g", {"class": "lane", "data-lane": lane.label.strip()})
        label = ET.SubElement(group, "text", {"x": "4", "y": str(y + LANE_H - 4), "class": "label"})
        label.text = lane.label
        if lane.title:
            ET.SubElement(label, "title").text = lane.title
        for begin, end, colour, title in lane.bars:
            width = max(x(end) - x(begin), 1.0)
            bar = ET.SubElement(
                group,
                "rect",
                {
                    "x": f"{x(begin):.1f}",
                    "y": str(y),
                    "width": f"{width:.1f}",
                    "height": str(LANE_H),
                    "fill": colour,
                },
            )
            ET.SubElement(bar, "title").text = f"{title} ({begin - zero:.1f} to {end - zero:.1f} s)"
    _axis(svg, start, stop, scale, TOP + len(rows) * (LANE_H + GAP))
    for first, group_marks in _close_together([x(m["at"]) for m in marks], marks):
        at = x(group_marks[0]["at"])
        last = first + len(group_marks) - 1
        colour = COLOURS["failed"] if any(m.get("failed") for m in group_marks) else "#555"
        group = ET.SubElement(svg, "g", {"class": "mark"})
        line = {"x1": f"{at:.1f}", "x2": f"{at:.1f}", "y1": "14", "y2": str(height - AXIS_H)}
        ET.SubElement(group, "line", {**line, "stroke": colour, "stroke-dasharray": "3,3"})
        label = str(first) if last == first else f"{first}-{last}"
        ET.SubElement(
            group, "text", {"x": f"{at + 2:.1f}", "y": "12", "fill": colour, "class": "tick"}
        ).text = label
        ET.SubElement(group, "title").text = "\n".join(
            f"{n}: line {m['line']}: {m['text']}" for n, m in enumerate(group_marks, first)
        )
    return svg


def _close_together(
    xs: list[float], marks: list[dict[str, Any]], pixels: float = 8
) -> list[tuple[int, list[dict[str, Any]]]]:
    """Marks within a few pixels of each other, as one (the first one's number, them)."""
    groups: list[tuple[int, list[dict[str, Any]]]] = []
    for number, (at, mark) in enumerate(zip(xs, marks, strict=True), 1):
        if groups and at - xs[groups[-1][0] - 1] <= pixels:
            groups[-1][1].append(mark)
        else:
            groups.append((number, [mark]))
    return groups


def _axis(svg: ET.Element, start: float, stop: float, scale: float, y: float) -> None:
    step = _step(stop - start)
    group = ET.SubElement(svg, "g", {"class": "axis"})
    ET.SubElement(
        group,
        "line",
        {
            "x1": str(LABEL_W),
            "x2": str(LABEL_W + PLOT_W),
            "y1": str(y),
            "y2": str(y),
            "stroke": "#888",
        },
    )
    tick = math.ceil(start / step) * step
    while tick <= stop:
        at = LABEL_W + (tick - start) * scale
        ET.SubElement(
            group,
            "line",
            {
                "x1": f"{at:.1f}",
                "x2": f"{at:.1f}",
                "y1": str(y),
                "y2": str(y + 4),
                "stroke": "#888",
            },
        )
        ET.SubElement(
            group,
            "text",
            {"x": f"{at:.1f}", "y": str(y + 15), "class": "tick", "text-anchor": "middle"},
        ).text = f"{tick:g} s"
        tick += step


def _step(span: float) -> float:
    """A round tick step giving about ten ticks."""
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if span / step <= 12:
            return step
    return 1200


# -- the page ------------------------------------------------------------------------------


class Verdicts:
    """Each test's verdict as the session's controller hears it (from every worker)."""

    NAME = "migration-e2e-verdicts"

    def __init__(self) -> None:
        self.results: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = report.nodeid.rpartition("::")[2]
        result = self.results.setdefault(
            name,
            {"outcome": "passed", "duration_s": 0.0, "scenario": "scenario" in report.keywords},
        )
        result["duration_s"] += report.duration
        if report.failed and result["outcome"] != "failed":
            result["outcome"] = "failed" if report.when == "call" else "error"
        elif report.skipped and result["outcome"] == "passed":
            result["outcome"] = "skipped"
        if report.failed or report.skipped:
            crash = getattr(report.longrepr, "reprcrash", None)
            said = crash.message if crash else str(report.longrepr)
            result["message"] = "\n".join(said.splitlines()[:12])


def write_session(artifacts: Path, **facts: str) -> None:
    """Versions and image path, for the report's summary."""
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / SESSION).write_text(json.dumps(facts, indent=1))


def write(
    artifacts: Path, results: dict[str, dict[str, Any]], *, interrupted: bool = False
) -> Path:
    """The page, from what the session left in `artifacts` and the verdicts of its tests
    (name -> outcome, duration_s, message, scenario)."""
    path = artifacts / NAME
    artifacts.mkdir(parents=True, exist_ok=True)
    path.write_text(render(artifacts, results, interrupted=interrupted))
    (artifacts / SUMMARY).write_text(summary_markdown(artifacts, results, interrupted=interrupted))
    return path


def summary_markdown(
    artifacts: Path, results: dict[str, dict[str, Any]], *, interrupted: bool = False
) -> str:
    """The page's summary for a CI job's summary: verdicts, versions, phases, and each
    scenario that did not pass with its first line of why."""
    rows = _summary_rows(results, _session(artifacts, interrupted), artifacts)
    lines = ["| | |", "|---|---|", *(f"| {key} | {value} |" for key, value in rows)]
    for name, result in sorted(results.items()):
        if result["outcome"] in ("failed", "error"):
            why = (result.get("message") or "").splitlines()[:1]
            lines.append(f"\n- **{result['outcome']}** `{name}`: {why[0] if why else ''}")
    return "\n".join(lines) + "\n"


def render(
    artifacts: Path, results: dict[str, dict[str, Any]], *, interrupted: bool = False
) -> str:
    recordings = recording.read(artifacts)
    session = _session(artifacts, interrupted)
    body = ET.Element("body")
    ET.SubElement(body, "h1").text = "Argo CD PreSync migration hook: end-to-end report"
    body.append(_summary(results, session, artifacts))
    body.append(_legend())
    for name in MARKDOWN:
        if (artifacts / name).is_file():
            section = ET.SubElement(
                body, "section", {"class": "markdown", "id": name.removesuffix(".md")}
            )
            section.append(_markdown(name, (artifacts / name).read_text()))
    by_test: dict[str, list[dict[str, Any]]] = {}
    for rec in recordings:
        by_test.setdefault(rec["test"], []).append(rec)
    names = sorted(
        set(results) | set(by_test),
        key=lambda t: (VERDICT_ORDER.get(results.get(t, {}).get("outcome", ""), 5), t),
    )
    for name in names:
        if name in by_test or results.get(name, {}).get("scenario"):
            body.append(_scenario(name, results.get(name, {}), by_test.get(name, []), artifacts))
    page = ET.Element("html", {"lang": "en"})
    head = ET.SubElement(page, "head")
    ET.SubElement(head, "meta", {"charset": "utf-8"})
    ET.SubElement(head, "title").text = "argocd-migration-e2e report"
    ET.SubElement(head, "style").text = STYLE
    page.append(body)
    return "<!DOCTYPE html>\n" + ET.tostring(page, encoding="unicode", method="html")


def _session(artifacts: Path, interrupted: bool) -> dict[str, Any]:
    session = _read_json(artifacts / SESSION)
    if interrupted:
        session = {"run": "interrupted (Ctrl-C): what ran until then", **session}
    return session


def _summary(
    results: dict[str, dict[str, Any]], session: dict[str, Any], artifacts: Path
) -> ET.Element:
    section = ET.Element("section", {"id": "summary"})
    _table(section, ("", ""), _summary_rows(results, session, artifacts))
    return section


def _summary_rows(
    results: dict[str, dict[str, Any]], session: dict[str, Any], artifacts: Path
) -> list[tuple[str, str]]:
    counts: dict[str, int] = {}
    for result in results.values():
        counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
    verdicts = ", ".join(
        f"{n} {outcome}"
        for outcome, n in sorted(counts.items(), key=lambda i: VERDICT_ORDER.get(i[0], 5))
    )
    rows = [
        ("verdicts", verdicts or "no test reported"),
        ("tests' time", f"{sum(r.get('duration_s', 0) for r in results.values()):.0f} s"),
        *((key.replace("_", " "), str(value)) for key, value in session.items()),
    ]
    phases = timings.phases(timings.read(artifacts))
    rows += [(f"phase: {name}", f"{seconds:g} s") for name, seconds in phases.items()]
    return rows


def _scenario(
    name: str, result: dict[str, Any], recs: list[dict[str, Any]], artifacts: Path
) -> ET.Element:
    outcome = result.get("outcome") or (recs[0]["outcome"] if recs else "not run")
    section = ET.Element("section", {"class": f"scenario {outcome}", "id": name})
    heading = ET.SubElement(section, "h2")
    ET.SubElement(heading, "span", {"class": f"verdict {outcome}"}).text = outcome
    ET.SubElement(heading, "span").text = f" {name}"
    if "duration_s" in result:
        ET.SubElement(heading, "small").text = f" {result['duration_s']:.0f} s"
    story = recs[0]["story"] if recs else []
    if story:
        listing = ET.SubElement(section, "ol", {"class": "story"})
        for line in story:
            ET.SubElement(listing, "li").text = line
    if result.get("message"):
        ET.SubElement(section, "pre", {"class": "message"}).text = result["message"]
    for rec in recs:
        ET.SubElement(section, "h3").text = f"namespace {rec['namespace']}"
        section.append(picture(rec))
        if rec.get("marks"):
            marks = ET.SubElement(section, "ol", {"class": "marks"})
            for mark in rec["marks"]:
                item = ET.SubElement(marks, "li", {"class": "failed" if mark.get("failed") else ""})
                item.text = f"{mark['at'] - origin(rec):.1f} s, line {mark['line']}: {mark['text']}"
        diagnostics = folder_for(artifacts, name, rec["namespace"])
        if diagnostics.is_dir():
            paragraph = ET.SubElement(section, "p")
            paragraph.text = "diagnostics: "
            for file in sorted(diagnostics.iterdir()):
                link = ET.SubElement(paragraph, "a", {"href": str(file.relative_to(artifacts))})
                link.text = file.name
                link.tail = " "
    if not recs:
        ET.SubElement(
            section, "p"
        ).text = "no timeline: the scenario made no namespace (or was interrupted before)"
    return section


LEGEND = {
    "Running": "sync or migration running",
    "Succeeded": "succeeded / pod ready / probe answered 2xx",
    "Failed": "failed / probe error",
    "Terminating": "sync terminating / pod terminating",
    "unready": "pod running, not ready / ReplicaSet not all ready",
    "pending": "pending / no replicas",
}


def _legend() -> ET.Element:
    legend = ET.Element("p", {"class": "legend"})
    legend.text = (
        "Timelines: seconds from the first sync's start; dashed lines are where the "
        "test's assertions looked (their list is below each picture). "
    )
    for key, meaning in LEGEND.items():
        style = f"background:{COLOURS[key]}"
        ET.SubElement(legend, "span", {"class": "swatch", "style": style}).tail = f" {meaning} "
    return legend


def _markdown(name: str, text: str) -> ET.Element:
    wrapper = ET.Element("div")
    ET.SubElement(wrapper, "h2").text = name
    converted = markdown.markdown(text, extensions=["tables"], output_format="html")
    # Python-Markdown writes XHTML-compatible HTML: parse it into the page's tree.
    wrapper.append(ET.fromstring(f"<div>{converted}</div>"))
    return wrapper


def _table(parent: ET.Element, header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> None:
    table = ET.SubElement(parent, "table")
    if any(header):
        tr = ET.SubElement(table, "tr")
        for cell in header:
            ET.SubElement(tr, "th").text = cell
    for row in rows:
        tr = ET.SubElement(table, "tr")
        for cell in row:
            ET.SubElement(tr, "td").text = cell


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
section.scenario { border-top: 1px solid #ddd; margin-top: 1.5em; }
.verdict { padding: 0 6px; border-radius: 3px; color: #fff; background: #777; }
.verdict.passed { background: #3c9a5f; } .verdict.failed, .verdict.error { background: #d0453a; }
.story { color: #333; } .marks { font-size: 12px; color: #555; }
.marks li.failed, pre.message { color: #b02a20; }
.swatch { display: inline-block; width: 12px; height: 12px; vertical-align: middle; }
.legend { font-size: 12px; }
svg.timeline text { font: 11px system-ui, sans-serif; } svg.timeline text.label { fill: #222; }
"""
