"""``easlab.monitor(name)`` / ``%eas monitor NAME``: a service's traffic, live or as a snapshot.

The numbers are the kernel's own (``GET /easlab/v1/services/<name>/metrics``,
kernel/monitor.py): nothing is counted in the notebook. Shown in a notebook, a
``Monitor`` draws four panels (requests per second, status mix, latency
percentiles, CPU and memory per instance) and, when ``live``, redraws them each
``interval`` seconds from a background thread, so the plot moves while another
cell runs ``%eas bench``. It stops when its ``duration`` is over, on
``stop()``, when the same cell (or the same service, outside JupyterLab) starts
a new monitor, or when the kernel stops answering; the last frame stays.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from easlab.notebook.live import LiveDisplay

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from easlab.client.control import KernelClient
    from easlab.notebook.plots import Plot

__all__ = ["Monitor", "monitor", "plot_monitor"]

_STATUS_COLOURS = {"2xx": "tab:green", "4xx": "tab:orange", "5xx": "tab:red"}
_NAMED_COLOURS = {"401": "tab:purple", "408": "tab:brown", "450": "tab:pink"}
#: the shortest ``interval`` of a live monitor, in seconds (a redraw takes longer)
MIN_INTERVAL = 0.05
#: the per-instance resource readings (kernel/resources.py), as to_dataframe names its columns
RESOURCES = ("cpu_percent", "rss_bytes", "gpu_util", "gpu_memory_bytes")


class Monitor(LiveDisplay):
    """A service's monitor: ``snapshot()``, ``to_dataframe()``, ``plot()``; live in a notebook."""

    def __init__(
        self,
        name: str,
        kernel: KernelClient,
        window: int = 60,
        interval: float = 1.0,
        live: bool = True,
        duration: float | None = None,
    ) -> None:
        super().__init__(interval, duration, f"easlab-monitor-{name}")
        self.name = name
        self.kernel = kernel
        self.window = int(window)
        self.live = live
        self.last: dict[str, Any] | None = None

    @property
    def frames(self) -> int:
        """Redraws done by the live thread."""
        return self.updates

    # -- data ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The kernel's monitor JSON for this service, now (see ARCHITECTURE.md)."""
        self.last = self.kernel.metrics(self.name, self.window)
        return self.last

    def to_dataframe(self, data: dict[str, Any] | None = None) -> pd.DataFrame:
        """One row per second of the window: requests, qps, status counts, p50/p90/p99 (ms),
        queue depth, mean batch size, and each instance's resources as ``cpu_percent[NAME]``,
        ``rss_bytes[NAME]``, ``gpu_util[NAME]``, ``gpu_memory_bytes[NAME]`` (a resource no
        instance reports, such as GPU on a host without one, has no column); indexed by time
        (UTC)."""
        import pandas as pd

        data = data or self.snapshot()
        rows = [{k: v for k, v in row.items() if k != "by_status"} for row in data["series"]]
        df = pd.DataFrame(rows)
        if df.empty:
            return df
        res = pd.DataFrame(data.get("resources") or [])
        if not res.empty:
            for metric in RESOURCES:
                if metric not in res or res[metric].isna().all():
                    continue
                wide = res.pivot_table(index="t", columns="instance", values=metric, aggfunc="last")
                wide.columns = [f"{metric}[{name}]" for name in wide.columns]
                df = df.join(wide, on="t")
        df.index = pd.to_datetime(df.pop("t"), unit="s", utc=True)
        df.index.name = "time"
        return df

    def resources(self, data: dict[str, Any] | None = None) -> pd.DataFrame:
        """CPU (%), memory (bytes) and GPU per instance and second."""
        import pandas as pd

        data = data or self.snapshot()
        df = pd.DataFrame(data["resources"])
        if not df.empty:
            df["time"] = pd.to_datetime(df.pop("t"), unit="s", utc=True)
        return df

    def plot(self, data: dict[str, Any] | None = None) -> Plot:
        """The four panels of the monitor, from ``data`` (default: a fresh snapshot)."""
        return plot_monitor(data or self.snapshot(), show=False)

    # -- live (notebook/live.py) -----------------------------------------------------

    def poll(self) -> None:
        self.snapshot()

    def frame(self, note: str | None = None) -> Any:
        if self.last is None:
            return None
        return _image(plot_monitor(self.last, show=False, note=note))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        self.snapshot()
        if self.live:
            self.show(f"service:{self.name}")
        else:
            display(self.frame())

    def __repr__(self) -> str:
        state = "live" if self.running else (self.stopped_because or "snapshot")
        return f"<easlab Monitor {self.name!r} window={self.window}s {state}>"


def _whole_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def _image(plot: Plot) -> Any:
    from IPython.display import Image

    return Image(data=plot.png(dpi=80), format="png")


def monitor(
    service: Any,
    window: int = 60,
    interval: float = 1.0,
    once: bool = False,
    duration: float | None = None,
    *,
    kernel: KernelClient | None = None,
) -> Monitor:
    """A service's monitor: shown in a notebook it plots live; ``.to_dataframe()`` for analysis.

    ``service``: a name on the local kernel or a ``Service``; ``window``: seconds
    shown (1 to 900); ``once``: draw a snapshot and do not update; ``duration``:
    stop updating after that many seconds.

    >>> m = easlab.monitor("echo", window=120)   # doctest: +SKIP
    >>> m.to_dataframe()[["qps", "p99_ms"]].tail()   # doctest: +SKIP
    """
    if isinstance(window, bool) or not (isinstance(window, int) or _whole_float(window)):
        raise ValueError(f"window must be whole seconds from 1 to 900, got {window!r}")
    if not 1 <= int(window) <= 900:
        raise ValueError(f"window must be whole seconds from 1 to 900, got {window!r}")
    # each redraw renders the four panels: at interval 0 the thread redrew without a
    # pause, a CPU busy and the kernel polled as fast as it answered, until stopped
    if not (isinstance(interval, (int, float)) and MIN_INTERVAL <= interval < math.inf):
        raise ValueError(
            f"interval must be seconds between redraws, at least {MIN_INTERVAL}, got {interval!r}"
        )
    if duration is not None and not (
        isinstance(duration, (int, float)) and 0 < duration < math.inf
    ):
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    name = getattr(service, "name", service)
    if kernel is None:
        kernel = getattr(service, "kernel", None)
    if kernel is None:
        from easlab.client.connect import connect

        kernel = connect(None)
    else:
        # the live thread gets its own HTTP session (requests sessions are not thread-safe)
        from easlab.client.control import KernelClient

        if isinstance(kernel, KernelClient):
            kernel = kernel.with_own_session()
        else:
            kernel = KernelClient(kernel.endpoint, admin_token=kernel.admin_token)
    m = Monitor(str(name), kernel, int(window), interval, not once, duration)
    # a first snapshot now: an unknown service (or a kernel that refuses us) fails this
    # call, the cell with it, rather than the display, which IPython reports but lets pass
    m.snapshot()
    return m


def plot_monitor(data: dict[str, Any], show: bool | None = None, note: str | None = None) -> Plot:
    """Requests/s, status mix, latency percentiles and CPU/memory of a monitor snapshot."""
    import numpy as np

    from easlab.notebook.plots import Plot, _new_figure, _show_at_end_of_cell

    series = data.get("series") or []
    t0 = series[-1]["t"] if series else time.time()
    x = np.array([row["t"] - t0 for row in series], dtype=float)
    fig = _new_figure(11, 6)
    axes = fig.subplots(2, 2, sharex=True)
    qps_ax, mix_ax, lat_ax, res_ax = axes.ravel()

    qps_ax.plot(x, [row["requests"] for row in series], color="tab:blue")
    qps_ax.fill_between(x, [row["requests"] for row in series], alpha=0.2, color="tab:blue")
    w = data.get("windows", {})
    one_min = w.get("60s", {})
    qps_ax.set_title(
        f"requests/s (1 min: {one_min.get('qps', 0):.1f}/s, 1 s: {w.get('1s', {}).get('qps', 0):.0f}/s)"
    )
    qps_ax.set_ylabel("requests/s")
    window = data.get("window") or len(series)
    if not any(row["requests"] for row in series):
        # no traffic: say so, rather than leave four flat lines around a negative axis
        for ax in (qps_ax, mix_ax, lat_ax):
            ax.text(
                0.5,
                0.5,
                f"no requests in the last {window} s",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="grey",
                gid="no-requests",
            )

    bottom = np.zeros(len(series))
    for key, colour in _STATUS_COLOURS.items():
        values = np.array([row[key] for row in series], dtype=float)
        mix_ax.bar(x, values, bottom=bottom, width=1.0, color=colour, label=key, align="edge")
        bottom += values
    for key, colour in _NAMED_COLOURS.items():
        values = np.array([row[key] for row in series], dtype=float)
        if values.any():
            mix_ax.plot(x, values, color=colour, label=key, linewidth=1.2)
    mix_ax.set_title(_mix_title(data.get("totals") or {}))
    mix_ax.set_ylabel("answers/s")
    mix_ax.legend(loc="upper left", fontsize="small", ncol=3)

    for q, colour in ((50, "tab:green"), (90, "tab:orange"), (99, "tab:red")):
        pct = [np.nan if row[f"p{q}_ms"] is None else row[f"p{q}_ms"] for row in series]
        lat_ax.plot(x, pct, color=colour, label=f"p{q}", marker=".", markersize=3)
    lat_ax.set_title(
        "latency (1 min p50/p90/p99: "
        + "/".join(_ms(one_min.get(f"p{q}_ms")) for q in (50, 90, 99))
        + " ms)"
    )
    lat_ax.set_ylabel("ms")
    lat_ax.set_xlabel("seconds (0 = now)")
    lat_ax.legend(loc="upper left", fontsize="small")

    mem_ax = res_ax.twinx()
    by_instance: dict[str, list[dict[str, Any]]] = {}
    for row in data.get("resources") or []:
        by_instance.setdefault(row["instance"], []).append(row)
    for i, (inst, rows) in enumerate(sorted(by_instance.items())):
        colour = f"C{i}"
        rx = [r["t"] - t0 for r in rows]
        cpu = [np.nan if r.get("cpu_percent") is None else r["cpu_percent"] for r in rows]
        mem = [np.nan if r.get("rss_bytes") is None else r["rss_bytes"] / 2**20 for r in rows]
        res_ax.plot(rx, cpu, color=colour, label=f"{inst} CPU")
        mem_ax.plot(rx, mem, color=colour, linestyle="--", label=f"{inst} MiB")
    res_ax.set_title("CPU % (solid) and memory MiB (dashed) per instance")
    res_ax.set_ylabel("CPU %")
    mem_ax.set_ylabel("MiB")
    res_ax.set_xlabel("seconds (0 = now)")
    if by_instance:
        lines = res_ax.get_lines() + mem_ax.get_lines()
        res_ax.legend(handles=lines, loc="upper left", fontsize="small", ncol=2)
    for ax in (qps_ax, mix_ax, lat_ax, res_ax):
        ax.set_xlim(-window, 1)
        ax.grid(alpha=0.3)
    for ax in (qps_ax, mix_ax, lat_ax, res_ax, mem_ax):
        _from_zero(ax)
    title = f"service {data.get('name')} — {data.get('status')}, queue {data.get('queue_depth', 0)}"
    if note:
        title += f"  [{note}]"
    fig.suptitle(title)
    plot = Plot([qps_ax, mix_ax, lat_ax, res_ax])
    return _show_at_end_of_cell(plot, show, True)


def _from_zero(ax: Any) -> None:
    """The y axis from 0 (counts, latencies, CPU and memory are never negative) to a
    little above the highest value. Autoscaling fits a flat series (a steady memory
    size, a steady rate) tightly around itself, so ``set_ylim(bottom=0)`` alone left
    its line on the axes' top edge, where the frame hides it."""
    import math

    top = ax.dataLim.ymax
    ax.set_ylim(0, top * 1.15 if math.isfinite(top) and top > 0 else 1)


def _mix_title(totals: dict[str, Any]) -> str:
    """The status panel's title: answers by status since the service began, and the
    share that failed (a few errors among many answers are a sliver of the bars)."""
    by_status = totals.get("by_status") or {}
    if not by_status:
        return "status mix (no answers yet)"
    answered = sum(by_status.values())
    failed = sum(v for k, v in by_status.items() if not 200 <= int(k) < 300)
    counts = ", ".join(f"{k}: {v}" for k, v in by_status.items())
    return f"status since start ({counts}; {100.0 * failed / answered:.1f}% errors)"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
