"""The benchmark runner's arithmetic (benchmarks/harness.py): the ratio of paired rounds and the
alternating order of the sides. No timings are asserted."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import harness  # noqa: E402


def _workload(calls):
    def side(name):
        def setup():
            return lambda: calls.append(name)
        return setup

    return harness.Workload(name="t", chainrule=side("chainrule"), torch=side("torch"),
                            steps=1, rounds=4, spin=0.0, warmup=0.0)


def test_the_ratio_is_the_median_of_the_rounds_ratios():
    w = _workload([])
    # a slow spell in rounds 3-4 slows both sides: each round's ratio is 1.1
    r = harness.Result(w, {"chainrule": [1.1, 1.1, 2.2, 2.2, 2.2],
                           "torch": [1.0, 1.0, 2.0, 2.0, 2.0]})
    assert abs(r.ratio - 1.1) < 1e-12
    assert abs(r.median("chainrule") / r.median("torch") - 1.1) < 1e-12
    r = harness.Result(w, {"chainrule": [1.1, 1.1, 2.2, 2.2], "torch": [1.0, 2.0, 2.0, 2.0]})
    assert abs(r.ratio - 1.1) < 1e-12 and r.median("chainrule") / r.median("torch") < 0.9
    r = harness.Result(w, {"chainrule": [3.0], "torch": [2.0]})  # one run each (time-to-accuracy)
    assert r.ratio == 1.5
    r = harness.Result(w, {"chainrule": [3.0, 1.0, 2.0], "torch": [1.0, 1.0]})
    assert r.ratio == 2.0


def test_the_sides_take_turns_at_going_first():
    calls = []
    result = harness.measure(_workload(calls))
    timed = calls[-8:]  # (after each side's warm-up step)
    assert timed == ["chainrule", "torch", "torch", "chainrule"] * 2
    assert len(result.times["chainrule"]) == len(result.times["torch"]) == 4
