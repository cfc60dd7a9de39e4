"""The real-models benchmark's pure parts: batch-size deltas, the floor at the kernel's
batch mix, the official client's timing output, and the targets' met / not met
(no servers, no models; the floor's two timers on a call that sleeps)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tests.bench_sections import load as _load

bench_kernel = _load("bench_kernel")
bench_models = _load("bench_models")

MODELS = [("mlp", "MLP")]


def wrk(rps: float, p50_ms: float, p99_ms: float, non_2xx: int = 0) -> object:
    return bench_kernel.WrkResult(rps, p50_ms, p99_ms, requests=int(rps * 5), non_2xx=non_2xx)


def easlab_row(runtime: str, batching: bool, connections: int, result: object, mix=None):
    return bench_models.Row(
        "mlp",
        "easlab",
        runtime,
        batching,
        connections,
        result,
        dict({1: 100} if mix is None else mix),
    )


def test_batch_size_delta_keeps_only_the_batches_formed_in_between() -> None:
    before = {"3": 1, "16": 10}
    after = {"3": 1, "7": 2, "16": 25}
    assert bench_models.batch_size_delta(before, after) == {7: 2, 16: 15}
    assert bench_models.batch_size_delta({}, {}) == {}
    assert bench_models.mean_batch({16: 3, 8: 1}) == pytest.approx(14.0)
    assert bench_models.mean_batch({}) is None


def test_floor_rows_per_s_weighs_each_batch_size_by_how_often_the_kernel_formed_it() -> None:
    seconds = {8: 0.0006, 16: 0.001}
    # 10 batches of 16 and 2 of 8: 176 rows in 11.2 ms
    assert bench_models.floor_rows_per_s({16: 10, 8: 2}, seconds) == pytest.approx(176 / 0.0112)
    assert bench_models.floor_rows_per_s({}, seconds) is None


def test_floor_is_batch_one_at_c1_and_missing_without_batch_sizes() -> None:
    floors = {("mlp", "onnx"): {1: 0.0001, 16: 0.0004}}
    lone = easlab_row("onnx", True, 1, wrk(150, 6.0, 8.0), {16: 3})
    assert bench_models.floor_for(lone, floors) == pytest.approx(10_000)
    batched = easlab_row("onnx", True, 16, wrk(2000, 5.0, 20.0), {16: 10})
    assert bench_models.floor_for(batched, floors) == pytest.approx(40_000)
    # batched at c=16 but the kernel's batch sizes were not read: no floor, not batch 1
    assert bench_models.floor_for(easlab_row("onnx", True, 16, None, {}), floors) is None
    # a batch size the floor did not time
    assert bench_models.floor_for(easlab_row("onnx", True, 16, None, {9: 1}), floors) is None


def test_official_timing_output_is_the_last_json_line() -> None:
    found = bench_models.parse_official(
        'a warning\n{"encode_s": 0.001, "decode_s": 9e-05, "request_bytes": 3174, '
        '"protobuf": "python"}\n'
    )
    assert found["protobuf"] == "python" and found["encode_s"] == 0.001
    with pytest.raises(ValueError, match="printed no JSON"):
        bench_models.parse_official("Traceback ...\n")
    with pytest.raises(ValueError, match="lacks decode_s"):
        bench_models.parse_official(json.dumps({"encode_s": 1, "protobuf": "python"}))


def _rows() -> list:
    return [
        easlab_row("onnx", False, 1, wrk(5000, 0.18, 0.40)),
        easlab_row("onnx", False, 16, wrk(8000, 2.0, 5.0)),
        easlab_row("onnx", True, 1, wrk(180, 5.5, 6.0)),
        easlab_row("onnx", True, 16, wrk(9000, 1.8, 4.0), {16: 500, 12: 10}),
        bench_models.Row("mlp", "identity", "onnx", False, 16, wrk(10_000, 1.5, 3.0)),
        bench_models.Row("mlp", "MLServer 1.7.1, 1 process", "onnx", True, 1, wrk(110, 8, 16.8)),
        bench_models.Row("mlp", "MLServer 1.7.1, 1 process", "onnx", True, 16, wrk(500, 26, 61)),
        bench_models.Row("mlp", "LitServe 0.2.19", "onnx", True, 1, wrk(70, 14.8, 5.0)),
        bench_models.Row("mlp", "LitServe 0.2.19", "onnx", True, 16, failure="skipped: no venv"),
    ]


FLOORS = {("mlp", "onnx"): {1: 0.00005, 12: 0.0002, 16: 0.00025}}


def test_targets_use_the_lower_ceiling_and_say_met_or_not() -> None:
    checks = {(t.what, t.subject): t for t in bench_models.targets(MODELS, _rows(), FLOORS)}
    ceiling = checks[("c=16 batched req/s ≥ 85% of min(identity ceiling, floor)", "MLP, onnx")]
    # floor at 16×500 + 12×10 is ~64k rows/s: the identity echo (10k) is the lower ceiling
    assert ceiling.reference == "10,000 (identity)"
    assert (ceiling.ratio, ceiling.met) == ("0.90×", True)
    off = checks[("c=1 p50 within 0.15 ms of the in-process call, batching off", "MLP, onnx")]
    assert (off.ratio, off.met) == ("+0.130 ms", True)
    on = checks[("c=1 p50 within 0.15 ms of the in-process call, batching on", "MLP, onnx")]
    assert on.met is False
    peers = checks[("c=16 batched req/s ≥ 3× the best peer", "MLP, onnx")]
    # LitServe's c=16 failed: the best measured peer is MLServer
    assert (peers.reference, peers.ratio, peers.met) == ("500 (MLServer 1.7.1)", "18.00×", True)
    p99 = checks[("c=1 p99 (batching on) lower than the best peer's", "MLP, onnx")]
    assert (p99.reference, p99.met) == ("5.00 ms (LitServe 0.2.19)", False)
    # nothing served by the pytorch processor: not measured, never "no"
    torch = checks[("c=16 batched req/s ≥ 85% of min(identity ceiling, floor)", "MLP, pytorch")]
    assert torch.met is None


def test_the_c1_targets_show_the_call_at_the_served_pace_but_judge_by_the_issues_floor() -> None:
    paced = {("mlp", "onnx"): (0.00012, 0.00011)}  # 0.11 ms after a 0.12 ms pause
    checks = {(t.what, t.subject): t for t in bench_models.targets(MODELS, _rows(), FLOORS, paced)}
    on = checks[("c=1 p50 within 0.15 ms of the in-process call, batching on", "MLP, onnx")]
    assert on.reference == "0.050 ms (in-process); 0.110 ms at the served pace"
    assert "over the paced call" in on.ratio
    assert on.met is False  # the verdict is against the back-to-back call, as before
    text = bench_models.report(MODELS, _rows(), FLOORS, [], bench_models.QUICK, 2, paced=paced)
    assert "MLP onnx 0.110 ms after 0.12 ms" in text


def test_the_c1_targets_use_the_median_lone_call_and_the_c16_floor_the_calls_time_in_all() -> None:
    # the floor's batch 1 is a throughput (0.05 ms a call back to back); the median
    # lone call (0.04 ms) is what a c=1 p50 is set against where it was measured
    lone = {("mlp", "onnx"): 0.00004}
    checks = {
        (t.what, t.subject): t
        for t in bench_models.targets(MODELS, _rows(), FLOORS, lone_calls=lone)
    }
    off = checks[("c=1 p50 within 0.15 ms of the in-process call, batching off", "MLP, onnx")]
    assert (off.reference, off.ratio) == ("0.040 ms (in-process)", "+0.140 ms")
    text = bench_models.report(MODELS, _rows(), FLOORS, [], bench_models.QUICK, 2, lone_calls=lone)
    assert "MLP onnx 0.040 ms" in text
    # the rows/s of the c=1 row stay the floor's: 1 / 0.05 ms
    assert "| 20,000 | 0.25× |" in text


def test_back_to_back_time_counts_the_slow_calls_the_median_leaves_out() -> None:
    made = []

    def call() -> None:  # every fourth call is slow, as a runtime's now and then is
        made.append(1)
        if len(made) % 4 == 0:
            time.sleep(0.004)

    median = bench_models.per_call_s(call, budget_s=0.05)
    made.clear()
    in_all = bench_models.back_to_back_s(call, budget_s=0.05)
    assert median < 0.001 < in_all  # about a quarter of 4 ms a call, in all


def test_paced_call_pauses_before_every_timed_call(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(bench_models.time, "sleep", pauses.append)
    assert bench_models.paced_call_s(lambda: None, 0.0003, calls=25) >= 0
    assert pauses == [0.0003] * 25


def test_report_is_a_table_with_ratios_verdicts_and_what_was_not_measured() -> None:
    cost = bench_models.ClientCost("MLP", 3174, 24e-6, 26e-6, 1340e-6, 90e-6, "python")
    text = bench_models.report(
        MODELS, _rows(), FLOORS, [cost], bench_models.QUICK, cores=2, wrk_version="4.1.0"
    )
    assert text.startswith("## Real models")
    assert "Machine: 2 cores" in text and "side by side in this one run" in text
    assert "intra-op thread" in text and "`make bench`" in text
    line = next(
        ln for ln in text.splitlines() if ln.startswith("| MLP | onnx (TF request) | on | 16")
    )
    # 9,000 req/s against the floor's ~64k rows/s at the kernel's batch mix
    assert "| 9,000 |" in line and "15.9 (12×10, 16×500)" in line and "0.14×" in line
    assert "### Issue 16's targets: 3 of 5 measured met" in text
    assert "| **no** |" in text and "| not measured |" in text
    assert "1,340.0 / 90.0 (protobuf: python) | 24.0 / 26.0 | 28.6×" in text
    assert "- mlp / LitServe 0.2.19 / onnx: skipped: no venv" in text
    # a wrk run with errors is shown as errors, never as a speed
    rows = _rows()
    rows[3] = easlab_row("onnx", True, 16, wrk(9000, 1.8, 4.0, non_2xx=12), {16: 500})
    text = bench_models.report(MODELS, rows, FLOORS, [], bench_models.QUICK, cores=2)
    line = next(
        ln for ln in text.splitlines() if ln.startswith("| MLP | onnx (TF request) | on | 16")
    )
    assert "⚠ errors: 12 non-2xx" in line and "9,000" not in line


def test_run_all_installs_only_the_peers_the_chosen_sections_load() -> None:
    run_all = _load("run_all")
    assert run_all.peers_for(["wire", "import"]) is None
    assert run_all.peers_for(["models"]) == ["litserve", "mlserver"]
    assert run_all.peers_for(["models", "kernel"]) == []  # the kernel section loads every peer
    assert "models" in run_all.discover()


def cpu_row(server: str, rps: float, easlab_us: float, wrk_us: float, mix=None):
    """A c=16 row whose run recorded easlab's and wrk's CPU a request (5 s of wrk)."""
    result = wrk(rps, 1.0, 2.0)
    n = result.requests
    row = bench_models.Row("mlp", server, "onnx", server == "easlab", 16, result, dict(mix or {}))
    row.cpu = bench_kernel.CpuUse(
        machine_s=n * (easlab_us + wrk_us + 1) / 1e6,
        capacity_s=12.0,
        server_s=n * easlab_us / 1e6,
        client_s=n * wrk_us / 1e6,
    )
    return row


def test_cpu_budget_says_when_the_target_needs_less_than_an_empty_requests_cpu() -> None:
    # 24k req/s of the empty echo at 63 + 20 µs a request keeps 2 cores busy; the model
    # costs 27 µs a row at batch 8 (37k rows/s), so the target is 0.85 × 24k = 20.4k
    floors = {("mlp", "onnx"): {8: 8 / 37_000}}
    rows = [
        cpu_row("identity", 24_000, 63.0, 20.0),
        cpu_row("easlab", 14_600, 95.0, 21.0, {8: 1000}),
    ]
    (budget,) = bench_models.cpu_budgets(MODELS, rows, floors, cores=2)
    assert budget.target_rps == pytest.approx(20_400)
    assert budget.model_us == pytest.approx(1e6 / 37_000)
    assert (budget.client_us, budget.echo_us) == (pytest.approx(21.0), pytest.approx(63.0))
    assert budget.served_less_model_us == pytest.approx(95.0 - 1e6 / 37_000)
    # 2 cores give 98.0 µs a request at 20.4k: 21 for wrk, 27 for the model, 50 for easlab
    assert budget.budget_us == pytest.approx(2e6 / 20_400 - 21.0 - 1e6 / 37_000)
    assert budget.at_echo_cost_rps == pytest.approx(2e6 / (21.0 + 63.0 + 1e6 / 37_000))
    assert not budget.reachable
    # on 8 cores the same costs are within reach
    (wide,) = bench_models.cpu_budgets(MODELS, rows, floors, cores=8)
    assert wide.reachable
    text = "\n".join(bench_models.cpu_report(rows, [budget, wide], MODELS, 2))
    assert "### Where the CPU went at c=16, and what 2 cores allow" in text
    assert "| MLP, onnx | empty echo | 24,000 | 84% | 63.0 / 20.0 / 1.0 |" in text
    assert "| MLP, onnx | the model, batching on | 14,600 |" in text
    assert "**no**: the budget is 0.79× the echo's cost" in text
    assert text.rstrip().endswith("| yes |")


def test_cpu_budget_needs_both_runs_cpu_and_a_floor() -> None:
    floors = {("mlp", "onnx"): {8: 8 / 37_000}}
    echo = cpu_row("identity", 24_000, 63.0, 20.0)
    served = cpu_row("easlab", 14_600, 95.0, 21.0, {8: 1000})
    assert bench_models.cpu_budgets(MODELS, [echo], floors, 2) == []
    served_without_cpu = cpu_row("easlab", 14_600, 95.0, 21.0, {8: 1000})
    served_without_cpu.cpu = None
    assert bench_models.cpu_budgets(MODELS, [echo, served_without_cpu], floors, 2) == []
    assert bench_models.cpu_budgets(MODELS, [echo, served], {}, 2) == []
    # the report of a run without CPU readings has the first table's heading and no budgets
    text = "\n".join(bench_models.cpu_report([echo], [], MODELS, 2))
    assert "empty echo" in text and "easlab's budget" not in text


def test_c1_report_splits_the_served_p50_into_echo_model_and_the_rest() -> None:
    rows = [
        # the echo of the same body at c=1, before the c=16 one (the ceiling the targets
        # use), as measure_identity lists them
        bench_models.Row("mlp", "identity", "onnx", False, 1, wrk(14_000, 0.07, 0.12)),
        *_rows(),
    ]
    paced = {("mlp", "onnx"): (0.00012, 0.00006)}  # 0.06 ms after a 0.12 ms pause
    lines = bench_models.c1_report(MODELS, rows, FLOORS, paced)
    assert lines[1] == "### Where a c=1 call's time goes (batching off, p50 ms)"
    # served 0.18 = echo 0.07 + model 0.06 + the rest 0.05; the target leaves
    # 0.15 + 0.05 (back to back) - 0.06 (paced) = 0.14 for echo and rest together
    assert lines[-1] == "| MLP, onnx | 0.180 | 0.070 | 0.060 | 0.050 | 0.140 |"
    # the c=1 echo is not the c=16 ceiling the targets divide by
    checks = {(t.what, t.subject): t for t in bench_models.targets(MODELS, rows, FLOORS)}
    ceiling = checks[("c=16 batched req/s ≥ 85% of min(identity ceiling, floor)", "MLP, onnx")]
    assert ceiling.reference == "10,000 (identity)"
    # without the c=1 echo there is nothing to split
    assert bench_models.c1_report(MODELS, _rows(), FLOORS, paced) == []


def _round(served: float | None, echo: float | None, floor: float | None) -> object:
    return bench_models.PairedRound(served, echo, floor, {8: 100})


def test_an_interleaved_round_compares_easlab_with_the_lower_of_its_two_ceilings() -> None:
    assert _round(9_000, 10_000, 40_000).ceiling() == (10_000, "identity")
    assert _round(9_000, 10_000, 40_000).ratio() == pytest.approx(0.9)
    assert _round(3_000, 10_000, 4_000).ceiling() == (4_000, "floor")
    # a ceiling not measured (a failed echo run, a batch size not timed): no ratio
    assert _round(9_000, None, 40_000).ratio() is None
    assert _round(9_000, 10_000, None).ceiling() is None
    assert _round(None, 10_000, 40_000).ratio() is None


def test_the_median_round_is_the_middle_ratio_of_the_rounds_measured() -> None:
    low, mid, high = (
        _round(6_000, 10_000, 40_000),
        _round(7_000, 10_000, 40_000),
        _round(9_500, 10_000, 40_000),
    )
    pair = bench_models.Paired("mlp", "onnx", [high, low, _round(9_000, None, 1.0), mid])
    assert pair.measured() == [high, low, mid]
    assert pair.median() is mid
    # of an even count, the lower of the middle two: the verdict never rounds up
    assert bench_models.Paired("mlp", "onnx", [high, low]).median() is low
    assert bench_models.Paired("mlp", "onnx", []).median() is None


def _paired() -> list:
    rounds = [
        _round(6_000, 10_000, 40_000),
        _round(9_500, 10_000, 40_000),
        _round(7_000, 10_000, 40_000),
    ]
    return [bench_models.Paired("mlp", "onnx", rounds)]


def test_the_c16_target_is_judged_on_the_median_interleaved_round_where_there_is_one() -> None:
    what = "c=16 batched req/s ≥ 85% of min(identity ceiling, floor)"
    plain = {(t.what, t.subject): t for t in bench_models.targets(MODELS, _rows(), FLOORS)}
    assert plain[(what, "MLP, onnx")].met is True  # the one-off runs: 9,000 against 10,000
    checks = {
        (t.what, t.subject): t
        for t in bench_models.targets(MODELS, _rows(), FLOORS, paired=_paired())
    }
    c16 = checks[(what, "MLP, onnx")]
    assert (c16.easlab, c16.ratio, c16.needed, c16.met) == ("7,000", "0.70×", "≥ 0.85×", False)
    assert c16.reference == (
        "10,000 (identity); the median of 3 interleaved rounds (0.60×, 0.95×, 0.70×)"
    )
    # no rounds for the pytorch processor: its target stays on the one-off runs
    assert checks[(what, "MLP, pytorch")].met is None
    # rounds run but none measured (wrk errors): no verdict, not the one-off runs' "met"
    failed = [bench_models.Paired("mlp", "onnx", [_round(None, 10_000, 40_000)])]
    c16 = next(
        t
        for t in bench_models.targets(MODELS, _rows(), FLOORS, paired=failed)
        if (t.what, t.subject) == (what, "MLP, onnx")
    )
    assert (c16.reference, c16.met) == ("no interleaved round measured", None)


def test_the_report_shows_every_interleaved_round_and_a_failed_one_as_not_measured() -> None:
    broken = bench_models.Paired("mlp", "pytorch", failure="mlp_pytorch_batched: answered 500")
    text = bench_models.report(
        MODELS, _rows(), FLOORS, [], bench_models.QUICK, 2, paired=[*_paired(), broken]
    )
    assert "### The c=16 target, interleaved" in text
    lines = [ln for ln in text.splitlines() if ln.startswith("| MLP, onnx | ")]
    assert lines[0] == "| MLP, onnx | 1 | 6,000 | 10,000 | 40,000 (8.0) | 0.60× (identity) |"
    assert lines[2] == (
        "| MLP, onnx | 3 | 7,000 | 10,000 | 40,000 (8.0) | **0.70× (identity)**, the median |"
    )
    assert "- mlp / interleaved / pytorch: mlp_pytorch_batched: answered 500" in text


def test_a_round_alternates_which_runs_first_and_times_the_floor_at_the_batches_formed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[str] = []
    metrics = iter([{"8": 10}, {"8": 30, "4": 2}] * 2)  # before and after easlab's run
    monkeypatch.setattr(bench_models, "batch_sizes", lambda port, name: next(metrics))

    def run_wrk(url: str, script: object, connections: int, seconds: int) -> object:
        order.append(url)
        assert (connections, seconds) == (16, 3)
        return wrk(9_000 if url == "served" else 10_000, 1.0, 2.0)

    timed: list[object] = []

    def back_to_back_s(call: object) -> float:
        timed.append(call)
        order.append("floor")
        return 0.001

    monkeypatch.setattr(bench_models, "_wrk", run_wrk)
    monkeypatch.setattr(bench_models, "back_to_back_s", back_to_back_s)
    monkeypatch.setattr(bench_models.time, "sleep", lambda s: order.append(f"pause {s:g} s"))
    calls = {n: n for n in range(1, 17)}
    served, echo = ("served", None), ("echo", None)
    first = bench_models._paired_round(0, "svc", served, echo, calls, 3, echo_first=False)
    second = bench_models._paired_round(0, "svc", served, echo, calls, 3, echo_first=True)
    # the floor after a pause that lets the machine settle from wrk, one call per batch size
    pause = f"pause {bench_models.PAIR_SETTLE_S:g} s"
    floor = ["floor", "floor"]
    assert order == ["served", "echo", pause, *floor, "echo", "served", pause, *floor]
    assert first.mix == {8: 20, 4: 2} and sorted(timed[:2]) == [4, 8]
    # 168 rows in 22 calls of 1 ms: the floor at this round's batches, under the echo
    assert first.floor_rows_s == pytest.approx(168 / 0.022)
    assert (second.served_rps, second.echo_rps) == (9_000, 10_000)
    assert second.ceiling() == (pytest.approx(168 / 0.022), "floor")


def test_a_round_whose_wrk_run_had_errors_gives_no_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = iter([{"8": 10}, {"8": 30}])
    monkeypatch.setattr(bench_models, "batch_sizes", lambda port, name: next(metrics))
    monkeypatch.setattr(
        bench_models,
        "_wrk",
        lambda url, script, c, s: wrk(9_000, 1.0, 2.0, non_2xx=5 if url == "served" else 0),
    )
    monkeypatch.setattr(bench_models, "back_to_back_s", lambda call: 0.001)
    monkeypatch.setattr(bench_models.time, "sleep", lambda s: None)
    calls = {n: n for n in range(1, 17)}
    found = bench_models._paired_round(
        0, "svc", ("served", None), ("echo", None), calls, 3, echo_first=False
    )
    # 9,000 req/s of which some answered non-2xx is no speed: the round has no ratio
    assert found.served_rps is None and found.echo_rps == 9_000
    assert found.ratio() is None


def _lone(*rounds: tuple[float | None, float | None], batching: bool = False) -> object:
    return bench_models.LonePaired(
        "mlp",
        "onnx",
        batching,
        [bench_models.LoneRound(p50, call) for p50, call in rounds],
    )


def test_a_lone_round_runs_easlab_at_c1_then_times_the_call_after_a_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[str] = []

    def run_wrk(url: str, script: object, connections: int, seconds: int) -> object:
        order.append(f"wrk c={connections} {seconds} s")
        return wrk(5_000, 0.2, 0.4)

    def per_call_s(call: object) -> float:
        order.append("call")
        return 0.00005

    monkeypatch.setattr(bench_models, "_wrk", run_wrk)
    monkeypatch.setattr(bench_models, "per_call_s", per_call_s)
    monkeypatch.setattr(bench_models.time, "sleep", lambda s: order.append(f"pause {s:g} s"))
    found = bench_models._lone_round(("served", None), lambda: None, 3)
    assert order == ["wrk c=1 3 s", f"pause {bench_models.PAIR_SETTLE_S:g} s", "call"]
    assert (found.p50_ms, found.call_s) == (0.2, 0.00005)
    assert found.extra_ms() == pytest.approx(0.15)
    # a run with non-2xx answers gives no p50: the round measured nothing
    monkeypatch.setattr(bench_models, "_wrk", lambda *a: wrk(5_000, 0.2, 0.4, non_2xx=3))
    assert bench_models._lone_round(("served", None), lambda: None, 3).extra_ms() is None


def test_the_c1_targets_are_judged_on_the_median_interleaved_round_where_there_is_one() -> None:
    # the one-off c=1 row (0.18 ms against 0.05 ms) would meet the off target; the
    # interleaved rounds (+0.20, +0.16, +0.10 ms) do not
    off = _lone((0.25, 0.00005), (0.21, 0.00005), (0.14, 0.00004))
    failed = _lone((None, 0.00005), batching=True)
    checks = {
        (t.what, t.subject): t
        for t in bench_models.targets(MODELS, _rows(), FLOORS, lone=[off, failed])
    }
    target = checks[("c=1 p50 within 0.15 ms of the in-process call, batching off", "MLP, onnx")]
    assert (target.easlab, target.ratio, target.met) == ("0.210 ms", "+0.160 ms", False)
    assert "the median of 3 interleaved rounds (+0.200, +0.160, +0.100 ms)" in target.reference
    # rounds were run but none measured: no verdict, not the one-off row's
    on = checks[("c=1 p50 within 0.15 ms of the in-process call, batching on", "MLP, onnx")]
    assert (on.reference, on.met) == ("no interleaved round measured", None)
    # without rounds the one-off rows still decide (the pytorch lines are not measured)
    plain = {(t.what, t.subject): t for t in bench_models.targets(MODELS, _rows(), FLOORS)}
    assert plain[("c=1 p50 within 0.15 ms of the in-process call, batching off", "MLP, onnx")].met


def test_the_report_shows_every_c1_round_its_median_and_a_failed_service() -> None:
    off = _lone((0.25, 0.00005), (0.21, 0.00005), (0.14, 0.00004))
    broken = bench_models.LonePaired("mlp", "pytorch", True, [], "mlp_pytorch_batched: 500")
    text = bench_models.report(
        MODELS, _rows(), FLOORS, [], bench_models.QUICK, 2, lone=[off, broken]
    )
    assert "### The c=1 targets, interleaved" in text
    assert "| MLP, onnx | off | 2 | 0.210 | 0.050 | **+0.160 ms**, the median |" in text
    assert "| MLP, onnx | off | 3 | 0.140 | 0.040 | +0.100 ms |" in text
    assert "| MLP, pytorch | on | — | mlp_pytorch_batched: 500 | — | — |" in text


def test_the_served_model_threads_are_the_kernels_default_unless_the_bench_names_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    model = bench_models.Model(
        "mlp", "MLP", tmp_path / "m.onnx", tmp_path / "m.pt", np.zeros((1, 4)), np.zeros((1, 2))
    )
    assert "model_threads" not in bench_models.model_spec(model, "onnx", True)["metadata"]
    monkeypatch.setattr(bench_models, "SERVED_MODEL_THREADS", 1)
    metadata = bench_models.model_spec(model, "pytorch", False)["metadata"]
    assert metadata["model_threads"] == 1
