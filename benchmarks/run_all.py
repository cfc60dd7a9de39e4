"""Run easlab's benchmarks and write one Markdown report (``make bench``).

Usage::

    .venv/bin/python benchmarks/run_all.py --output BENCHMARKS.md [--only wire,import,kernel,tail,models] [--quick] [--halt-poll-ns N|keep]

Every ``benchmarks/bench_<name>.py`` module is a section: its ``run() -> str``
returns Markdown (``run(quick=True)`` when it accepts ``quick``; the
``EASLAB_BENCH_QUICK=1`` environment variable says the same to any section).
A section that raises is reported in the file with its traceback; the others
still run.

The run sets the machine's guest halt polling to Linux's default (``machine.py``
says why; ``--halt-poll-ns keep`` leaves it as found), says so in the header and
puts back what it found.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import inspect
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import machine

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PREFERRED_ORDER = ["wire", "import", "kernel", "tail", "batching", "models"]
#: the peers' venvs (benchmarks/setup_peers.sh) a section loads; None: every peer
SECTION_PEERS: dict[str, list[str] | None] = {
    "kernel": None,
    "tail": ["asgi"],
    "machine": ["asgi"],
    "models": ["mlserver", "litserve"],
    "queue": ["redis"],
}


def discover() -> dict[str, Path]:
    """Section name → module file, in report order."""
    found = {path.stem.removeprefix("bench_"): path for path in BENCH_DIR.glob("bench_*.py")}
    ordered = [name for name in PREFERRED_ORDER if name in found]
    ordered += sorted(name for name in found if name not in PREFERRED_ORDER)
    return {name: found[name] for name in ordered}


def load(name: str, path: Path) -> ModuleType:
    """The section's module, imported once: sections import each other (``import
    bench_kernel``) from this folder, which is on sys.path as this script's own."""
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    return importlib.import_module(path.stem)


def run_section(name: str, path: Path, quick: bool) -> str:
    """The section's Markdown, or a report of why it failed."""
    started = time.monotonic()
    print(f"run_all: {name} ...", file=sys.stderr, flush=True)
    try:
        module = load(name, path)
        run = getattr(module, "run", None)
        if not callable(run):
            raise TypeError(f"{path.name} has no run() -> str function")
        accepts_quick = "quick" in inspect.signature(run).parameters
        text = run(quick=quick) if accepts_quick else run()
        if not isinstance(text, str):
            raise TypeError(f"{path.name}: run() returned {type(text).__name__}, not Markdown text")
    except Exception:
        elapsed = time.monotonic() - started
        print(f"run_all: {name} FAILED after {elapsed:.0f} s", file=sys.stderr, flush=True)
        return (
            f"## {name}\n\n**This section failed** after {elapsed:.0f} s; its numbers are "
            f"missing from this report.\n\n```\n{traceback.format_exc().rstrip()}\n```\n"
        )
    elapsed = time.monotonic() - started
    print(f"run_all: {name} done in {elapsed:.0f} s", file=sys.stderr, flush=True)
    text = text.strip() + "\n"
    if not text.startswith("#"):
        text = f"## {name}\n\n{text}"
    return text + f"\n_Section `{name}` took {elapsed:.0f} s._\n"


def peers_for(sections: list[str]) -> list[str] | None:
    """The peers the chosen sections need: None for none, [] for every peer."""
    wanted = [SECTION_PEERS[name] for name in sections if name in SECTION_PEERS]
    if not wanted:
        return None
    if any(peers is None for peers in wanted):
        return []
    return sorted({peer for peers in wanted for peer in peers or []})


def setup_peers(peers: list[str]) -> str | None:
    """Install wrk, nginx and the peers' venvs (all when ``peers`` is empty) if missing;
    a note when that failed."""
    script = BENCH_DIR / "setup_peers.sh"
    done = subprocess.run(
        ["bash", str(script), *peers], cwd=ROOT, stdout=sys.stderr, stderr=sys.stderr
    )
    if done.returncode != 0:
        return (
            f"`benchmarks/setup_peers.sh` exited {done.returncode}: wrk or nginx may be "
            "missing (they need root and apt-get)."
        )
    return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def command_line() -> str:
    """The command that produced the report, as one would type it in the repo root."""
    python = Path(sys.executable)  # not resolved: keep .venv/bin/python, not its target
    shown = str(python.relative_to(ROOT)) if python.is_relative_to(ROOT) else str(python)
    script = Path(sys.argv[0]).resolve()
    script_shown = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else str(script)
    return shlex.join([shown, script_shown, *sys.argv[1:]])


def header(sections: list[str], quick: bool, settings: Sequence[str] = ()) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        "# easlab benchmarks",
        "",
        f"- date: {now}",
        f"- machine: {cores} cores (`nproc`), {cpu_model()}, {platform.system()} "
        f"{platform.release()}",
        f"- Python {platform.python_version()} ({sys.executable})",
        f"- command: `{command_line()}`" + (" (quick: short runs, rough numbers)" if quick else ""),
        f"- sections: {', '.join(sections)}",
        *(f"- {line}" for line in settings),
        "",
        "Numbers from one machine and one run; other work on the machine moves them. "
        "Compare within this file, not across files.",
    ]
    return "\n".join(lines) + "\n"


#: the last line of every report: this file is rewritten whole by each run, so what was
#: learnt beyond its tables lives in a file of its own
FINDINGS_POINTER = (
    "What the sessions measured beyond these tables (profiles, changes tried and kept or "
    "not, and why the numbers are what they are): "
    "[benchmarks/FINDINGS.md](benchmarks/FINDINGS.md).\n"
)


def main(argv: list[str] | None = None) -> int:
    available = discover()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output",
        default="BENCHMARKS.md",
        type=Path,
        help="Markdown file to write (default: BENCHMARKS.md)",
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated sections to run (of: {', '.join(available)})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short runs: a smoke test of the harness, not numbers to quote",
    )
    parser.add_argument(
        "--halt-poll-ns",
        default=str(machine.LINUX_DEFAULT_NS),
        help="the guest halt-poll window for the run, in ns, or 'keep' to leave it as found "
        f"(default: Linux's default, {machine.LINUX_DEFAULT_NS})",
    )
    args = parser.parse_args(argv)
    if args.halt_poll_ns != "keep" and not args.halt_poll_ns.isdigit():
        parser.error(f"--halt-poll-ns takes a number of ns or 'keep', not {args.halt_poll_ns!r}")
    halt_poll = None if args.halt_poll_ns == "keep" else int(args.halt_poll_ns)

    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(available)
    unknown = [name for name in chosen if name not in available]
    if unknown:
        parser.error(
            f"unknown section(s) {', '.join(unknown)}; the sections are "
            f"{', '.join(available)} (files benchmarks/bench_<name>.py)"
        )
    if args.quick:
        os.environ["EASLAB_BENCH_QUICK"] = "1"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

    # `kill` of the run (or of make) must still stop the servers a section started:
    # SystemExit unwinds through the sections' finally blocks and atexit hooks.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.monotonic()
    peers = peers_for(chosen)
    notes = []
    if peers is not None:
        note = setup_peers(peers)
        if note:
            notes.append(f"> {note}\n")
    found = machine.halt_poll_ns()
    if found is not None:  # bench_machine compares against the setting the run found
        os.environ["EASLAB_BENCH_HALT_POLL_FOUND"] = str(found)
    with machine.halt_polling(halt_poll) as polling:
        parts = [header(chosen, args.quick, [polling]), *notes]
        for name in chosen:
            parts.append(run_section(name, available[name], args.quick))
    total = time.monotonic() - started
    parts.append(f"_Whole run: {total / 60:.1f} min._\n")
    parts.append(FINDINGS_POINTER)

    output: Path = args.output
    partial = output.with_name(output.name + ".partial")
    partial.write_text("\n".join(parts))
    partial.replace(output)
    print(f"run_all: wrote {output} in {total / 60:.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
