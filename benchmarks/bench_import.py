"""Import cost: ``python -c "import easlab"`` and ``%load_ext easlab``, in fresh processes.

Each measurement is a new interpreter, so nothing is cached in memory; the
median of several runs is reported, net of a bare ``python -c pass`` start-up.
The same child also lists which heavy modules the import pulled in (none of
pandas, matplotlib, ipywidgets or the kernel may load eagerly).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 150.0
HEAVY = [
    "pandas",
    "matplotlib",
    "ipywidgets",
    "easlab.kernel",
    "torch",
    "tensorflow",
    "onnxruntime",
    "requests",
]

_PROBE = """
import json, sys, time
t0 = time.perf_counter()
{setup}
t1 = time.perf_counter()
{action}
t2 = time.perf_counter()
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"setup_ms": (t1 - t0) * 1e3, "ms": (t2 - t1) * 1e3, "heavy": heavy}}))
"""

CASES = {
    "import easlab": ("", "import easlab"),
    "%load_ext easlab (IPython already running)": (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()",
        "ip.run_line_magic('load_ext', 'easlab')",
    ),
}


def _child(setup: str, action: str) -> dict[str, object]:
    code = _PROBE.format(setup=setup, action=action, heavy=HEAVY)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        env=env,
        timeout=120,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _wall(args: list[str]) -> float:
    import time

    t0 = time.perf_counter()
    subprocess.run(args, cwd=str(ROOT), check=True, capture_output=True, timeout=120)
    return (time.perf_counter() - t0) * 1000.0


def measure(runs: int = 7) -> list[dict[str, object]]:
    """One row per case: median in-process import time, median whole-process time, heavy modules."""
    _child("", "import easlab")  # warm the file cache and .pyc files once
    bare = statistics.median(_wall([sys.executable, "-c", "pass"]) for _ in range(runs))
    whole = statistics.median(_wall([sys.executable, "-c", "import easlab"]) for _ in range(runs))
    rows = []
    for label, (setup, action) in CASES.items():
        samples = [_child(setup, action) for _ in range(runs)]
        rows.append(
            {
                "case": label,
                "median_ms": statistics.median(float(s["ms"]) for s in samples),  # type: ignore[arg-type]
                "min_ms": min(float(s["ms"]) for s in samples),  # type: ignore[arg-type]
                "heavy": sorted({m for s in samples for m in s["heavy"]}),  # type: ignore[attr-defined]
            }
        )
    rows.append(
        {
            "case": 'python -c "import easlab" (whole process, minus bare start-up)',
            "median_ms": whole - bare,
            "min_ms": float("nan"),
            "heavy": [],
        }
    )
    return rows


def run(quick: bool = False) -> str:
    """Markdown section for BENCHMARKS.md."""
    runs = 3 if quick else 7
    rows = measure(runs)
    lines = [
        "## Import cost",
        "",
        f"Fresh interpreter per run, median of {runs} runs (target: under {TARGET_MS:.0f} ms "
        "for `import easlab`). *Heavy modules loaded* lists any of "
        f"{', '.join(HEAVY)} found in `sys.modules` afterwards.",
        "",
        "| what | median (ms) | min (ms) | heavy modules loaded | target |",
        "|---|---:|---:|---|---|",
    ]
    for row in rows:
        median = float(row["median_ms"])  # type: ignore[arg-type]
        min_ms = float(row["min_ms"])  # type: ignore[arg-type]
        heavy = ", ".join(row["heavy"]) or "none"  # type: ignore[arg-type]
        verdict = "✅" if median < TARGET_MS else "❌"
        min_text = "–" if min_ms != min_ms else f"{min_ms:.1f}"
        lines.append(f"| {row['case']} | {median:.1f} | {min_text} | {heavy} | {verdict} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
