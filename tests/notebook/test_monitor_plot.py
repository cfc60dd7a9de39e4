"""The monitor's figure from snapshots, no kernel: what a data scientist reads off it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from easlab.notebook.monitor import plot_monitor

pytest.importorskip("matplotlib")


def _row(t: int, **counts: int) -> dict[str, Any]:
    ok, bad, named = counts.get("ok", 0), counts.get("bad", 0), counts.get("c401", 0)
    n = ok + bad + named
    return {
        "t": t,
        "requests": n,
        "qps": float(n),
        "2xx": ok,
        "4xx": bad + named,
        "5xx": 0,
        "401": named,
        "408": 0,
        "450": 0,
        "p50_ms": 1.0 if n else None,
        "p90_ms": 2.0 if n else None,
        "p99_ms": 3.0 if n else None,
        "queue": 0,
        "batch_mean": None,
    }


def _snapshot(series: list[dict[str, Any]], by_status: dict[str, int]) -> dict[str, Any]:
    return {
        "name": "svc",
        "status": "Running",
        "window": len(series),
        "queue_depth": 0,
        "series": series,
        "windows": {"60s": {"qps": 0.0}, "1s": {"qps": 0.0}},
        "totals": {"by_status": by_status},
        "resources": [
            {"t": row["t"], "instance": "svc-0", "cpu_percent": 0.0, "rss_bytes": 16 * 2**20}
            for row in series[-5:]
        ],
    }


def test_a_service_with_no_traffic_says_so_on_axes_that_start_at_zero():
    now = int(time.time())
    plot = plot_monitor(_snapshot([_row(now - 59 + i) for i in range(60)], {}), show=False)
    qps_ax, mix_ax, lat_ax, res_ax = plot
    for ax in plot:
        assert ax.get_ylim()[0] == 0, ax.get_title()  # never a negative rate, latency or CPU
    mem_ax = [a for a in res_ax.figure.axes if a not in plot.axes][0]
    assert mem_ax.get_ylim()[0] == 0
    for ax in (qps_ax, mix_ax, lat_ax):
        notes = [t.get_text() for t in ax.texts]
        assert "no requests in the last 60 s" in notes, ax.get_title()
    assert mix_ax.get_title() == "status mix (no answers yet)"
    plot.png()  # draws


def test_status_panel_has_a_unit_and_states_the_error_share():
    now = int(time.time())
    series = [_row(now - 9 + i) for i in range(10)]
    series[5] = _row(now - 4, ok=500, bad=61, c401=31)
    plot = plot_monitor(_snapshot(series, {"200": 500, "400": 61, "401": 31}), show=False)
    mix_ax = plot[1]
    assert mix_ax.get_ylabel() == "answers/s"
    # 92 failures of 592: a sliver of the stacked bars, so the title says it in numbers
    assert "15.5% errors" in mix_ax.get_title()
    assert not any(t.get_gid() == "no-requests" for ax in plot for t in ax.texts)


def test_a_steady_memory_size_and_rate_are_drawn_below_the_top_edge():
    # a flat series was autoscaled tightly around itself, then set_ylim(bottom=0) kept
    # that top: a steady 18.7 MiB drew its dashed line on the frame, out of sight, and
    # it had no legend entry
    now = int(time.time())
    series = [_row(now - 59 + i, ok=100) for i in range(60)]  # a steady 100 requests/s
    snapshot = _snapshot(series, {"200": 6000})
    rss = 19_615_744
    snapshot["resources"] = [
        {"t": row["t"], "instance": "svc-0", "cpu_percent": 40.0, "rss_bytes": rss}
        for row in series
    ]
    plot = plot_monitor(snapshot, show=False)
    qps_ax, _, _, res_ax = plot
    mem_ax = [a for a in res_ax.figure.axes if a not in plot.axes][0]
    for ax, value in ((mem_ax, rss / 2**20), (res_ax, 40.0), (qps_ax, 100.0)):
        bottom, top = ax.get_ylim()
        assert bottom == 0 and top >= value * 1.1, (ax.get_ylabel(), value, top)
    labels = [t.get_text() for t in res_ax.get_legend().get_texts()]
    assert labels == ["svc-0 CPU", "svc-0 MiB"]
    plot.png()
