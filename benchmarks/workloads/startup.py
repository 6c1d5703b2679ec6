"""Start-up cost: ``python -c "import chainrule"`` against ``import torch`` (and numpy)."""

from __future__ import annotations

import os
import subprocess
import sys

from harness import Workload, register


def _importer(module: str):
    # NOTE: bytecode caches are allowed (as in any normal install; this environment may set
    # PYTHONDONTWRITEBYTECODE), so the untimed warm-up run writes chainrule's .pyc files and
    # every side is timed with warm caches.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cmd = [sys.executable, "-c", f"import {module}"]

    def setup():
        def step():
            subprocess.run(cmd, env=env, check=True)

        return step

    return setup


register(Workload(
    name="import_time",
    chainrule=_importer("chainrule"),
    torch=_importer("torch"),
    references={"numpy": _importer("numpy")},
    max_seconds=0.25,
    spin=0.0,
    steps=1,
    rounds=7,
    warmup=0.0,
    description='python -c "import ..." wall time, fresh process each',
))
