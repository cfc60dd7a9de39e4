"""Wire codec benchmark: easlab vs the official eas-prediction client vs a numpy floor.

Cases, measured side by side in one run (medians of ``timeit`` repeats):

* build + serialize a 1x3x224x224 float32 TF request — easlab's numpy path;
  the official documented path (``arr.ravel().tolist()`` + ``add_feed`` +
  ``to_string()``, in ``.venv-official``); ``arr.tobytes()`` as the floor;
* decode a 1000x1000 float32 TF response — easlab ``resp['x']``; official
  ``get_values``; ``np.frombuffer(...).copy()`` as the floor;
* build a request with 10 small inputs (per-call overhead).

``run()`` returns a Markdown section; ``python benchmarks/bench_wire.py`` prints it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import timeit
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from easlab.wire.tf import TFRequest, TFResponse, encode_tf_response  # noqa: E402

OFFICIAL_PY = ROOT / ".venv-official" / "bin" / "python"

OFFICIAL_SNIPPET = r"""
import json, statistics, sys, timeit
import numpy as np
from eas_prediction import TFRequest
from eas_prediction.tf_request import TFResponse

def median(fn, number, repeat):
    return statistics.median(t / number for t in timeit.repeat(fn, number=number, repeat=repeat))

arr = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
def encode():
    req = TFRequest("serving_default")
    req.add_feed("images", [1, 3, 224, 224], TFRequest.DT_FLOAT, arr.ravel().tolist())
    return req.to_string()

body = open(sys.argv[1], "rb").read()
def decode():
    return TFResponse(body).get_values("x")

small = [np.full((1, 4), i, np.float32) for i in range(10)]
def ten():
    req = TFRequest("serving_default")
    for i, a in enumerate(small):
        req.add_feed(f"in{i}", [1, 4], TFRequest.DT_FLOAT, a.ravel().tolist())
    return req.to_string()

assert len(decode()) == 1000 * 1000
print(json.dumps({
    "encode": median(encode, 1, 5),
    "decode": median(decode, 1, 3),
    "ten": median(ten, 200, 5),
}))
"""


def _median(fn, number: int, repeat: int) -> float:
    return statistics.median(t / number for t in timeit.repeat(fn, number=number, repeat=repeat))


def _official(body_path: str) -> dict[str, float] | str:
    if not OFFICIAL_PY.exists():
        return "official client venv missing (run `make official-venv`)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [str(OFFICIAL_PY), "-c", textwrap.dedent(OFFICIAL_SNIPPET), body_path],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=120,
    )
    if proc.returncode != 0:
        return f"official run failed: {proc.stderr.strip().splitlines()[-1:]}"
    return json.loads(proc.stdout)


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.1f}x"


def run() -> str:
    """Run the wire benchmark; return a Markdown section."""
    arr = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    enc = _median(lambda: TFRequest("serving_default").add_feed("images", arr).to_string(), 50, 7)
    enc_floor = _median(arr.tobytes, 50, 7)

    out = np.random.default_rng(1).random((1000, 1000), dtype=np.float32)
    body = encode_tf_response({"x": out})
    offset = len(body) - out.nbytes
    dec = _median(lambda: TFResponse(body)["x"], 10, 7)
    dec_floor = _median(lambda: np.frombuffer(body, np.float32, out.size, offset).copy(), 10, 7)
    assert np.array_equal(TFResponse(body)["x"], out)

    small = [np.full((1, 4), i, np.float32) for i in range(10)]

    def ten() -> bytes:
        req = TFRequest("serving_default")
        for i, a in enumerate(small):
            req.add_feed(f"in{i}", a)
        return req.to_string()

    ten_t = _median(ten, 500, 7)

    with tempfile.NamedTemporaryFile(suffix=".pb", delete=False) as f:
        f.write(body)
    try:
        official = _official(f.name)
    finally:
        os.unlink(f.name)
    off = official if isinstance(official, dict) else {}
    note = "" if isinstance(official, dict) else f"\n\nOfficial client not measured: {official}."

    rows = [
        (
            "build+serialize 1x3x224x224 float32 TF request",
            enc,
            off.get("encode"),
            enc_floor,
            "`arr.tobytes()`",
        ),
        (
            "decode 1000x1000 float32 TF response",
            dec,
            off.get("decode"),
            dec_floor,
            "`np.frombuffer(...).copy()`",
        ),
        ("build+serialize TF request with 10 inputs of 1x4", ten_t, off.get("ten"), None, "—"),
    ]
    lines = [
        "## Wire codec (easlab.wire)",
        "",
        f"Medians of `timeit` repeats on {platform.machine()} / Python {platform.python_version()}, "
        "CPU only. Official: eas-prediction 0.36 (pure-Python protobuf 3.20.3) in `.venv-official`, "
        "using its documented path (`arr.ravel().tolist()` + `add_feed` + `to_string()`; `get_values`).",
        "",
        "| case | easlab | official | floor | easlab / floor | official / easlab |",
        "|---|---|---|---|---|---|",
    ]
    for name, ours, theirs, floor, floor_name in rows:
        floor_cell = f"{_fmt(floor)} ({floor_name})" if floor is not None else floor_name
        lines.append(
            f"| {name} | {_fmt(ours)} | {_fmt(theirs)} | {floor_cell} | {_ratio(ours, floor)} | {_ratio(theirs, ours)} |"
        )
    return "\n".join(lines) + note + "\n"


if __name__ == "__main__":
    print(run())
