"""Load benchmark sections (benchmarks/bench_*.py) in tests, as run_all.py does.

benchmarks/ goes on sys.path, as it is for ``python benchmarks/run_all.py`` (the
script's own folder), so that a section's ``import bench_kernel`` finds its sibling.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str) -> ModuleType:
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    return importlib.import_module(name)
