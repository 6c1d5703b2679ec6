"""The workload registry and the timing protocol shared by every benchmark.

A workload is a name, two setups (chainrule's and PyTorch's) that build the same problem from
the same data and return a zero-argument ``step`` callable, and an optional bar. A module in
``benchmarks/workloads/`` calls :func:`register` for each of its workloads; ``run.py`` imports
every module there, so adding a benchmark means adding a module.

The protocol is built for a noisy 2-core machine whose BLAS worker threads keep spinning for
about 0.1 s after each GEMM (slowing whatever runs next, in either framework): after a warm-up,
the two sides alternate in blocks, each block first running its own step untimed for ``spin``
seconds (so the other side's threads have gone quiet and caches hold this side's data), then
timing ``steps`` steps, the order of the sides reversed every round. The time per side is the
median over ``rounds`` blocks; the ratio is the median of the rounds' ratios (see
:attr:`Result.ratio`).

A workload whose quantity is not a step time (time-to-accuracy: one long training run per side)
brings its own ``protocol``, which returns the ``Result`` itself. A workload may compare
chainrule with something other than PyTorch (e.g. ``fit`` against a hand-written chainrule
loop): its ``torch`` setup is then that baseline, named by ``baseline``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Step = Callable[[], object]
Setup = Callable[[], Step]

SIDES = ("chainrule", "torch")


def framework(side: str):
    """The module a side's setup builds with: ``chainrule`` or ``torch`` (imported on use)."""
    if side == "chainrule":
        import chainrule

        return chainrule
    import torch

    return torch


@dataclass(frozen=True)
class Workload:
    """One benchmark: the same step in chainrule and in PyTorch.

    Args:
        name: unique, used by ``run.py --only``.
        chainrule: builds the problem in chainrule and returns its step.
        torch: builds the same problem (same shapes, same data) in PyTorch and returns its step.
        bar: PASS when chainrule's median / PyTorch's median is at most this.
        max_seconds: PASS when chainrule's median step takes at most this many seconds.
        references: more setups timed alongside (shown in the notes, never judged).
        spin: untimed seconds each side runs before its timed block (None: the default).
        steps: timed steps per block (None: enough for about ``BLOCK_SECONDS``).
        rounds: blocks per side (None: the default).
        warmup: untimed seconds (at least one step) each side runs before the first round.
        description: one line for the table's notes.
        baseline: what the ``torch`` setup runs, when it is not PyTorch (shown in its cell).
        protocol: ``protocol(workload, quick) -> Result`` replacing the step-timing protocol.
        slow: takes minutes; ``run.py --quick`` skips it unless ``--only`` selects it.
    """

    name: str
    chainrule: Setup
    torch: Setup
    bar: float | None = None
    max_seconds: float | None = None
    references: dict[str, Setup] = field(default_factory=dict)
    spin: float | None = None
    steps: int | None = None
    rounds: int | None = None
    warmup: float = 0.5
    description: str = ""
    baseline: str = "PyTorch"
    protocol: Callable[[Workload, bool], Result] | None = None
    slow: bool = False


@dataclass
class Result:
    workload: Workload
    times: dict[str, list[float]]  # side -> per-step seconds, one entry per timed block
    error: str | None = None  # why the workload could not run (its times are then empty)
    failed: str | None = None  # a check of its own that failed (times shown; verdict FAIL)
    notes: list[str] = field(default_factory=list)  # extra notes from a custom protocol

    def median(self, side: str) -> float:
        return statistics.median(self.times[side])

    def spread(self, side: str) -> float:
        """Interquartile range of the blocks, relative to the median."""
        ts = sorted(self.times[side])
        if len(ts) < 4:
            return (ts[-1] - ts[0]) / statistics.median(ts)
        q1, _, q3 = statistics.quantiles(ts, n=4)
        return (q3 - q1) / statistics.median(ts)

    @property
    def ratio(self) -> float:
        """chainrule's time over PyTorch's: the median of the rounds' own ratios when both
        sides ran the same rounds, else the ratio of the medians.

        NOTE: a round's two blocks run back to back, so a slow spell of this VM (the host
        taking a core for a second or two) that spans a round slows both and cancels in its
        ratio, where the two medians could each pick a block from a different spell.
        """
        c, t = self.times["chainrule"], self.times["torch"]
        if len(c) == len(t) > 1:
            return statistics.median(a / b for a, b in zip(c, t))
        return self.median("chainrule") / self.median("torch")

    @property
    def passed(self) -> bool | None:
        """True / False against the workload's bars, None when it has no bar."""
        if self.error is not None or self.failed is not None:
            return False
        w = self.workload
        checks = []
        if w.bar is not None:
            checks.append(self.ratio <= w.bar)
        if w.max_seconds is not None:
            checks.append(self.median("chainrule") <= w.max_seconds)
        return all(checks) if checks else None


REGISTRY: dict[str, Workload] = {}

SPIN_SECONDS = 0.3
BLOCK_SECONDS = 0.1
ROUNDS = 11  # (7 until session 8: rows near their bar flipped with the VM's noise)
QUICK = {"spin": 0.1, "rounds": 3, "warmup": 0.2}


def register(workload: Workload) -> Workload:
    """Add a workload to the registry (names must be unique)."""
    if workload.name in REGISTRY:
        raise ValueError(f"benchmark workload {workload.name!r} is registered twice")
    REGISTRY[workload.name] = workload
    return workload


def _run_for(step: Step, seconds: float, at_least: int = 0) -> tuple[int, float]:
    """Call ``step`` until ``seconds`` have passed (and at least ``at_least`` times)."""
    start = time.perf_counter()
    end = start + seconds
    n = 0
    while n < at_least or time.perf_counter() < end:
        step()
        n += 1
    return n, time.perf_counter() - start


def _timed_block(step: Step, spin: float, steps: int) -> float:
    """Run ``step`` untimed for ``spin`` seconds, then return the mean time of ``steps`` steps."""
    if spin > 0:
        _run_for(step, spin)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def measure(workload: Workload, quick: bool = False) -> Result:
    """Time a workload's sides with the alternating protocol described in the module doc."""
    if workload.protocol is not None:
        return workload.protocol(workload, quick)
    setups = {"chainrule": workload.chainrule, "torch": workload.torch, **workload.references}
    step_fns = {side: setup() for side, setup in setups.items()}
    spin = workload.spin if workload.spin is not None else SPIN_SECONDS
    rounds = workload.rounds if workload.rounds is not None else ROUNDS
    warmup = workload.warmup
    if quick:
        spin = min(spin, QUICK["spin"])
        rounds = min(rounds, QUICK["rounds"])
        warmup = min(warmup, QUICK["warmup"])

    steps = {}
    for side, step in step_fns.items():
        n, seconds = _run_for(step, warmup, at_least=2)
        per_step = seconds / n
        steps[side] = workload.steps or max(2, min(1000, round(BLOCK_SECONDS / per_step)))

    times: dict[str, list[float]] = {side: [] for side in step_fns}
    order = list(step_fns)
    for _ in range(rounds):
        for side in order:
            times[side].append(_timed_block(step_fns[side], spin, steps[side]))
        order.reverse()  # (neither side always first, right after the other's threads)
    return Result(workload, times)
