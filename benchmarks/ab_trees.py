"""Two versions of easlab side by side: a git commit against the working tree.

    .venv/bin/python benchmarks/ab_trees.py --base HEAD~1 --model mlp --runtime onnx \\
        --connections 16 --batching on --pairs 8

Why: this machine's speed moves by a third from one minute to the next, so a
change measured by two ``make bench`` runs minutes apart measures the machine.
Here two kernels run at once, one importing easlab from a worktree of
``--base`` (A), the other from this checkout (B), each serving the same model
of ``bench_models.py``; wrk runs against them in turns (A then B, then B then
A, ...), and each pair gives a ratio B/A of requests/s and of p50. The medians
and how many pairs agree are what a change is judged on. Not a section of
``make bench`` (its name is no ``bench_*.py``): a tool for judging one change.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_kernel as bk  # noqa: E402  (benchmarks/ on sys.path, as run_all.py has it)
import bench_models as bm  # noqa: E402


@dataclass(frozen=True)
class Pairs:
    """Per-pair ratios B/A and their medians (``summarize``)."""

    rps: list[float]
    p50: list[float]

    @property
    def rps_median(self) -> float:
        return statistics.median(self.rps)

    @property
    def p50_median(self) -> float:
        return statistics.median(self.p50)

    def report(self) -> str:
        faster = sum(r > 1 for r in self.rps)
        quicker = sum(r < 1 for r in self.p50)
        n = len(self.rps)
        return (
            f"B/A req/s per pair {[round(r, 3) for r in self.rps]}: median "
            f"{self.rps_median:.3f}, higher in {faster}/{n}\n"
            f"B/A p50 per pair   {[round(r, 3) for r in self.p50]}: median "
            f"{self.p50_median:.3f}, lower in {quicker}/{n}"
        )


def summarize(a: list[bk.WrkResult], b: list[bk.WrkResult]) -> Pairs:
    """Ratios of the i-th B run to the i-th A run (each pair ran seconds apart)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"need as many A runs as B runs, got {len(a)} and {len(b)}")
    return Pairs(
        [y.requests_per_sec / x.requests_per_sec for x, y in zip(a, b, strict=True)],
        [y.p50_ms / x.p50_ms for x, y in zip(a, b, strict=True)],
    )


def order(pair: int) -> str:
    """Which runs first in pair ``pair``: A in even pairs, B in odd ones."""
    return "AB" if pair % 2 == 0 else "BA"


def worktree(base: str, into: Path) -> Path:
    """A detached worktree of commit ``base`` at ``into``."""
    subprocess.run(
        ["git", "-C", str(bk.ROOT), "worktree", "add", "--detach", "-f", str(into), base],
        check=True,
        capture_output=True,
    )
    return into


def imports_from(root: Path) -> Path:
    """Where ``import easlab`` resolves for a kernel started in ``root``: must be ``root``."""
    out = subprocess.run(
        [sys.executable, "-c", "import easlab; print(easlab.__file__)"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the commit A runs (B: the working tree)")
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--runtime", choices=["onnx", "pytorch"], default="onnx")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batching", choices=["on", "off"], default="on")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=3, help="each wrk run")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="easlab-ab-"))
    roots = {"A": worktree(args.base, tmp / "base"), "B": bk.ROOT}
    try:
        for tag, root in roots.items():
            where = imports_from(root)
            if not where.is_relative_to(root):
                raise SystemExit(f"kernel {tag} would import easlab from {where}, not {root}")
        model = next(m for m in bm.build_models(tmp / "models") if m.key == args.model)
        body = bm.request_body(model, args.runtime)
        auth = {"Authorization": bk.EASLAB_TOKEN}
        script = bm._script(tmp, "ab", body, "application/octet-stream", auth)
        urls = {}
        for tag, root in roots.items():
            (tmp / tag).mkdir()
            _, port = bk.start_kernel(tmp / tag, {"PYTHONPATH": str(root)}, root=root)
            path = bm.create_service(
                port, bm.model_spec(model, args.runtime, args.batching == "on")
            )
            status, answer = bk.post(port, path, body, auth)
            if status != 200:
                raise SystemExit(f"kernel {tag} answered {status}: {answer[:300]!r}")
            bm._check_answer(f"kernel {tag}", bm.answer_values(args.runtime, answer), model)
            urls[tag] = f"http://127.0.0.1:{port}{path}"
            bm._wrk(urls[tag], script, 16, 1)  # warm-up
        runs: dict[str, list[bk.WrkResult]] = {"A": [], "B": []}
        for pair in range(args.pairs):
            for tag in order(pair):
                result = bm._wrk(urls[tag], script, args.connections, args.seconds)
                if not result.ok:
                    raise SystemExit(f"kernel {tag}: wrk saw {result.errors} failed requests")
                runs[tag].append(result)
        print(
            f"A = {args.base}, B = the working tree; {args.model} {args.runtime}, "
            f"batching {args.batching}, c={args.connections}, {args.pairs} pairs of "
            f"{args.seconds} s"
        )
        for tag in "AB":
            print(
                f"{tag}: req/s {[round(r.requests_per_sec) for r in runs[tag]]}, "
                f"p50 ms {[round(r.p50_ms, 3) for r in runs[tag]]}"
            )
        print(summarize(runs["A"], runs["B"]).report())
        return 0
    finally:
        bk._stop_all()
        subprocess.run(
            ["git", "-C", str(bk.ROOT), "worktree", "remove", "--force", str(tmp / "base")],
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
