"""Side-by-side speed of chainrule and PyTorch on the reference workloads.

Usage::

    python benchmarks/run.py                    # every workload, full protocol
    python benchmarks/run.py --only mlp matmul  # workloads whose name contains a substring
    python benchmarks/run.py --quick            # fewer and shorter rounds, no slow workloads
    python benchmarks/run.py --markdown         # also print a README-ready table
    python benchmarks/run.py --threads 1        # both frameworks on one core (BLAS included)

Each workload registers itself from a module in ``benchmarks/workloads/``; the timing protocol
is described in ``benchmarks/harness.py``. Timings are medians per step; ratio is chainrule's
median over PyTorch's, so lower is better for chainrule.
"""

from __future__ import annotations

# NOTE: chainrule first, as a user script would import it: it shortens OpenBLAS's worker spin
# before NumPy loads OpenBLAS (see src/chainrule/_blas_env.py); PyTorch's threads are unaffected.
# isort: off
import chainrule  # noqa: F401
# isort: on

import argparse
import importlib
import os
import pkgutil
import platform
import sys
import traceback

import harness
import workloads
from harness import SIDES, Result, Workload


def load_workloads() -> list[Workload]:
    """Import every module of ``benchmarks/workloads`` (each registers its workloads)."""
    for info in sorted(pkgutil.iter_modules(workloads.__path__), key=lambda m: m.name):
        importlib.import_module(f"workloads.{info.name}")
    return list(harness.REGISTRY.values())


def _seconds(t: float) -> str:
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} µs"


def _bar(w: Workload) -> str:
    parts = []
    if w.bar is not None:
        parts.append(f"<= {w.bar:g}x")
    if w.max_seconds is not None:
        parts.append(f"< {_seconds(w.max_seconds)}")
    return ", ".join(parts) or "-"


def _verdict(r: Result) -> str:
    return {True: "PASS", False: "FAIL", None: "-"}[r.passed]


def _row(r: Result, noise: bool) -> list[str]:
    w = r.workload
    if r.error is not None:
        return [w.name, "-", "-", "-", _bar(w), "ERROR", r.error]
    baseline = _seconds(r.median("torch"))
    if w.baseline != "PyTorch":  # e.g. fit against a hand-written chainrule loop
        baseline = f"{baseline} ({w.baseline})"
    cells = [w.name, _seconds(r.median("chainrule")), baseline,
             f"{r.ratio:.3f}x", _bar(w), _verdict(r)]
    notes = [f"{side} {_seconds(r.median(side))}" for side in w.references]
    notes += ([r.failed] if r.failed else []) + r.notes
    if noise and min(len(t) for t in r.times.values()) > 1:
        notes.append("spread " + "/".join(f"{r.spread(s):.0%}" for s in SIDES))
    return [*cells, "; ".join(notes)]


HEADER = ["workload", "chainrule", "PyTorch", "ratio", "bar", "result", "notes"]


def format_text(results: list[Result]) -> str:
    rows = [HEADER] + [_row(r, noise=True) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(c.ljust(n) for c, n in zip(row, widths)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * n for n in widths))
    return "\n".join(lines)


def format_markdown(results: list[Result]) -> str:
    rows = [_row(r, noise=False) for r in results]
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _cpu_ticks() -> list[int] | None:
    """The machine's CPU time counters (/proc/stat's first line), None where there are none."""
    try:
        with open("/proc/stat") as f:
            return [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def _steal_note(before: list[int] | None, after: list[int] | None) -> str | None:
    """"steal N%" when the hypervisor took more than 2% of the CPU time while a workload ran.

    NOTE: this VM's vCPUs are sometimes descheduled by the host (steal time). chainrule's two
    threads hand work to each other (halves of a product, chunks of a convolution) and wait
    for a descheduled one, so it suffers more than PyTorch: LeNet-5's step measured 2.17x
    PyTorch's time with 13% steal and 1.16-1.27x with under 1% (session 5). Rows marked so
    measured the host more than the code.
    """
    if before is None or after is None or len(before) < 8:
        return None
    delta = [b - a for a, b in zip(before, after)]
    total = sum(delta[:8]) or 1
    steal = delta[7] / total
    return f"steal {steal:.0%}" if steal > 0.02 else None


def set_threads(n: int) -> None:
    """Limit NumPy's BLAS and PyTorch to ``n`` threads; must run before either is imported."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    import torch

    torch.set_num_threads(n)


def environment() -> str:
    import numpy as np
    import torch

    from chainrule import _jit, _mkl

    fast = []
    if _jit.available():
        import numba

        fast.append(f"numba {numba.__version__}")
    if _mkl.available():
        fast.append("MKL GEMMs")
    return (f"Python {platform.python_version()}, NumPy {np.__version__}, "
            f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"{platform.machine()}; chainrule's fast extra: {', '.join(fast) or 'not installed'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run the workloads whose name contains any of these substrings")
    parser.add_argument("--quick", action="store_true",
                        help="fewer, shorter rounds; skip the slow workloads (time-to-accuracy) "
                             "unless --only selects them")
    parser.add_argument("--markdown", action="store_true",
                        help="also print the table as Markdown (for the README)")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 if any workload fails its bar")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="run both frameworks (and their BLAS) on N threads; by default "
                             "each keeps its own default")
    args = parser.parse_args(argv)
    if args.threads:
        set_threads(args.threads)

    chosen = load_workloads()
    if args.only:
        chosen = [w for w in chosen if any(s in w.name for s in args.only)]
        if not chosen:
            parser.error(f"no workload name contains any of {args.only}; see --list")
    if args.list:
        for w in chosen:
            slow = " (slow)" if w.slow else ""
            print(f"{w.name:24} bar {_bar(w):14} {w.description}{slow}")
        return 0
    if args.quick and not args.only:
        skipped = [w.name for w in chosen if w.slow]
        chosen = [w for w in chosen if not w.slow]
        if skipped:
            print(f"--quick skips the slow workloads {', '.join(skipped)} (select them with "
                  "--only to run them)", file=sys.stderr)

    print(environment(), file=sys.stderr)
    results = []
    for w in chosen:
        print(f"running {w.name} ...", file=sys.stderr, flush=True)
        try:
            before = _cpu_ticks()
            results.append(harness.measure(w, quick=args.quick))
            note = _steal_note(before, _cpu_ticks())
            if note:
                results[-1].notes.append(note)
        except Exception as e:  # one broken workload must not hide the others' results
            traceback.print_exc()
            results.append(Result(w, {}, error=f"{type(e).__name__}: {e}".splitlines()[0]))
    print(format_text(results))
    if args.markdown:
        print()
        print(format_markdown(results))
    failed = [r.workload.name for r in results if r.passed is False]
    if failed:
        print(f"\nFAIL: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
