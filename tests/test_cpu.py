"""A scenario's share of the node's CPU, when scenarios run side by side."""

from e2e import cpu

SECOND = 1_000_000_000  # the node's counter is in nanoseconds


def reading(start: float, end: float, node_start: float, node_end: float) -> dict:
    return {
        "start": start,
        "end": end,
        "node_start": int(node_start * SECOND),
        "node_end": int(node_end * SECOND),
        "own_s": 1.0,
    }


def test_overlapping_scenarios_share_the_node_while_both_run() -> None:
    # a runs 0..10 s, b 5..15 s; the node spends 5 s, then 10 s, then 5 s of CPU
    readings = {"a": reading(0, 10, 0, 15), "b": reading(5, 15, 5, 20)}

    assert cpu.node_shares(readings) == {"a": 5 + 5, "b": 5 + 5}


def test_one_scenario_alone_pays_all_of_the_node() -> None:
    assert cpu.node_shares({"a": reading(0, 30, 100, 112.5)}) == {"a": 12.5}


def test_a_scenario_without_a_node_reading_is_left_out() -> None:
    unmetered = reading(0, 10, 0, 0) | {"node_start": None, "node_end": None}

    assert cpu.node_shares({"a": unmetered, "b": reading(0, 10, 0, 4)}) == {"b": 4.0}


def test_the_run_says_its_median() -> None:
    line = cpu.summary({"a": 10.0, "b": 30.0, "c": 14.0})

    assert line == "CPU of 3 scenarios (node share + suite): 54 s in all, median 14.0 s a scenario"
