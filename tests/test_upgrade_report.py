"""The upgrade report's table: what differs between N-1 and N comes first."""

import json
from pathlib import Path

from e2e.upgrade_report import HookMeasurements, rows, write

WAITING = "waiting for completion of hook batch/Job/db-migration"


def measured(version: str, **changes: object) -> HookMeasurements:
    figures: dict = {
        "version": version,
        "hook_done_to_replica_set_s": 0.4,
        "time_to_fail_s": 20.0,
        "terminates_lost": 0,
        "terminate_tries": 5,
        "messages": {"hook waiting": WAITING, "terminated": "Operation terminated"},
    }
    return HookMeasurements(**(figures | changes))


def test_differences_come_first_and_close_timings_are_the_same() -> None:
    before = measured("v3.5.1", time_to_fail_s=21.0, terminates_lost=1)
    after = measured("v3.6.1", hook_done_to_replica_set_s=9.8)

    table = rows(before, after)

    assert [(what, differs) for what, _, _, differs in table] == [
        ("hook done → new ReplicaSet", True),
        ("terminate-op lost", True),
        ("time to fail, backoffLimit 0", False),  # 1 s apart: within the noise
        ("message: hook waiting", False),
        ("message: terminated", False),
    ]
    assert table[1][1:3] == ("1 of 5", "0 of 5")


def test_a_message_seen_on_one_version_only_differs() -> None:
    after = measured("v3.6.1", messages={"hook waiting": WAITING})

    table = rows(measured("v3.5.1"), after)

    assert table[0] == ("message: terminated", "`Operation terminated`", "``", True)


def test_the_report_names_both_versions_and_keeps_the_figures(tmp_path: Path) -> None:
    before, after = measured("v3.5.1"), measured("v3.6.1", time_to_fail_s=60.0)

    report = write(before, after, tmp_path / "artifacts")

    text = report.read_text()
    assert text.startswith("## Upgrade report: Argo CD v3.5.1 → v3.6.1")
    assert "1 of 5 differ" in text
    assert "| time to fail, backoffLimit 0 | 20.0 s | 60.0 s | differs |" in text
    raw = json.loads((tmp_path / "artifacts" / "upgrade-report.json").read_text())
    assert raw["after"]["time_to_fail_s"] == 60.0
