"""Latency and throughput plots on matplotlib, safe under any backend.

Figures are built with ``matplotlib.figure.Figure`` directly, never through
``pyplot``: nothing here touches global state (no ``plt.show()``, no rcParams,
no backend switch), so the plots work headless (Agg) and never leak into a
user's pyplot figures.

Every function returns a ``Plot``: a sequence of the figure's axes (for
customisation: ``plot[0].set_title(...)``) with ``.figure``, ``.savefig`` and
a PNG rendering. In a Jupyter kernel the figure shows up without
``%matplotlib inline``: a plot made in a cell is drawn once at the end of that
cell, after any customisation the cell made, unless the cell's value already
displayed it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

__all__ = ["plot_latency", "plot_sweep", "plot_traffic", "figure_png", "Plot", "PERCENTILES"]

# percentile -> line colour, drawn on the distribution plot
PERCENTILES: dict[int, str] = {50: "tab:green", 90: "tab:orange", 99: "tab:red"}


class Plot(Sequence["Axes"]):
    """The axes of one figure, shown in a notebook without ``%matplotlib``.

    Index or unpack it for the axes (``hist, cdf, over_time = plot``); ``figure``
    is the matplotlib figure, ``savefig`` saves it, ``png()`` renders it.
    """

    def __init__(self, axes: Sequence[Axes]) -> None:
        self.axes: list[Axes] = list(axes)
        self.figure: Figure = self.axes[0].figure.figure  # a SubFigure's root figure
        self._shown = False

    @overload
    def __getitem__(self, index: int) -> Axes: ...
    @overload
    def __getitem__(self, index: slice) -> list[Axes]: ...
    def __getitem__(self, index: int | slice) -> Axes | list[Axes]:
        return self.axes[index]

    def __len__(self) -> int:
        return len(self.axes)

    def __iter__(self) -> Iterator[Axes]:
        return iter(self.axes)

    def png(self, dpi: int = 100) -> bytes:
        """The figure as PNG bytes (Agg), as drawn now."""
        return figure_png(self.figure, dpi=dpi)

    def savefig(self, fname: Any, **kwargs: Any) -> None:
        """``Figure.savefig``: ``plot.savefig("latency.png", dpi=150)``."""
        self.figure.savefig(fname, **kwargs)

    def _repr_png_(self) -> bytes:
        # the cell's value is this plot: Jupyter draws it here, so the end-of-cell
        # display must not draw it a second time
        self._shown = True
        return self.png()

    def __repr__(self) -> str:
        titles = ", ".join(repr(ax.get_title()) for ax in self.axes if ax.get_title())
        return f"<easlab Plot: {len(self.axes)} axes{': ' + titles if titles else ''}>"


# Plots waiting for the end of the running cell, per IPython shell.
_pending: dict[int, list[Plot]] = {}


def _kernel_shell() -> Any:
    """The IPython shell when running in a Jupyter kernel (a front-end shows images);
    None in plain Python or terminal IPython."""
    ipython = sys.modules.get("IPython")  # never import IPython just to ask
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


def _show_at_end_of_cell(plot: Plot, show: bool | None, own_figure: bool) -> Plot:
    """Queue ``plot`` to be displayed once when the running cell ends.

    Waiting for the cell's end (IPython's ``post_execute`` event, which
    matplotlib-inline uses for the same purpose) draws the customisations the
    cell makes after the call. The callback removes itself: no state outlives
    the cell.
    """
    if show is False or (show is None and not own_figure):
        return plot
    shell = _kernel_shell()
    if shell is None:
        return plot
    pending = _pending.setdefault(id(shell), [])
    if not pending:

        def flush() -> None:
            from IPython.display import Image, display

            shell.events.unregister("post_execute", flush)
            for waiting in _pending.pop(id(shell), []):
                if not waiting._shown:
                    waiting._shown = True
                    display(Image(data=waiting.png(), format="png"))

        shell.events.register("post_execute", flush)
    pending.append(plot)
    return plot


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _frame(result: Any) -> Any:
    """The per-request DataFrame of a BenchResult (or a DataFrame given directly)."""
    df = getattr(result, "df", result)
    if "total_ms" not in getattr(df, "columns", ()):
        raise TypeError("expected a BenchResult or a DataFrame with a 'total_ms' column")
    if df.empty:
        raise ValueError("no requests to plot: the load test recorded no rows")
    return df


def plot_latency(result: Any, ax: Axes | None = None, show: bool | None = None) -> Plot:
    """Latency histogram with its CDF and p50/p90/p99 lines, and latency over time.

    With ``ax`` given, only the distribution is drawn there (with the CDF on a
    twin axis). Returns a ``Plot`` of ``[distribution_ax, cdf_ax, over_time_ax]``
    (the last one absent when ``ax`` was given). ``show``: display the figure
    at the end of the notebook cell; by default only when easlab made the
    figure (no ``ax``) and runs in a Jupyter kernel.
    """
    import numpy as np

    df = _frame(result)
    total = df["total_ms"].to_numpy(dtype=float)
    axes: list[Axes] = []
    if ax is None:
        fig = _new_figure(11, 4)
        ax, ax_time = fig.subplots(1, 2, width_ratios=[1.1, 1])
    else:
        ax_time = None

    lo, hi = float(total.min()), float(total.max())
    bins = np.linspace(lo, hi if hi > lo else lo + 1e-3, min(60, max(10, len(total) // 10)))
    ax.hist(total, bins=list(bins), color="tab:blue", alpha=0.55, label="requests")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    ax.set_title(f"Latency distribution ({len(total)} requests)")

    cdf_ax = ax.twinx()
    xs = np.sort(total)
    cdf_ax.plot(xs, np.arange(1, len(xs) + 1) / len(xs), color="black", lw=1.2, label="CDF")
    cdf_ax.set_ylim(0, 1.02)
    cdf_ax.set_ylabel("cumulative fraction of requests")

    for q, colour in PERCENTILES.items():
        value = float(np.quantile(total, q / 100.0))  # linear, as pandas' quantile
        ax.axvline(
            value, color=colour, ls="--", lw=1.4, label=f"p{q} = {value:.2f} ms", gid=f"p{q}"
        )
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = cdf_ax.get_legend_handles_labels()
    ax.legend(handles + h2, labels + l2, loc="center right", fontsize="small")
    axes += [ax, cdf_ax]

    if ax_time is not None:
        ok = df["status"] == 200 if "status" in df.columns else np.ones(len(df), dtype=bool)
        start = (
            df["start_s"].to_numpy(dtype=float) if "start_s" in df.columns else np.arange(len(df))
        )
        if ok.any():  # an empty series would still put "200" in the legend
            ax_time.scatter(start[ok], total[ok], s=6, alpha=0.5, color="tab:blue", label="200")
        if (~ok).any():
            ax_time.scatter(
                start[~ok], total[~ok], s=12, marker="x", color="tab:red", label="error"
            )
        p99 = float(np.quantile(total, 0.99))
        ax_time.axhline(p99, color=PERCENTILES[99], ls="--", lw=1.2, label=f"p99 = {p99:.2f} ms")
        ax_time.set_xlabel("time since start (s)")
        ax_time.set_ylabel("latency (ms)")
        ax_time.set_title("Latency over time")
        ax_time.legend(loc="upper right", fontsize="small")
        axes.append(ax_time)
    return _show_at_end_of_cell(Plot(axes), show, own_figure=ax_time is not None)


def plot_sweep(result: Any, show: bool | None = None) -> Plot:
    """Throughput and latency (p50, p99) against concurrency for a sweep.

    Accepts a ``BenchResult`` with ``sweep_df`` or that DataFrame itself.
    Returns a ``Plot`` of ``[throughput_ax, latency_ax]``; ``show`` as for
    ``plot_latency``.
    """
    sweep = getattr(result, "sweep_df", result)
    if sweep is None or "concurrency" not in getattr(sweep, "columns", ()):
        raise ValueError("no sweep to plot: run easlab.bench(..., sweep=[1, 2, 4, 8])")
    fig = _new_figure(10, 3.8)
    ax_tp, ax_lat = fig.subplots(1, 2)
    c = sweep["concurrency"].to_numpy()
    ax_tp.plot(c, sweep["throughput"], marker="o", color="tab:blue", label="throughput")
    ax_tp.set_xlabel("concurrency (parallel requests)")
    ax_tp.set_ylabel("throughput (req/s)")
    ax_tp.set_title("Throughput vs concurrency")
    ax_tp.set_ylim(0, float(sweep["throughput"].max()) * 1.15 or 1.0)
    ax_lat.plot(c, sweep["p50"], marker="o", color=PERCENTILES[50], label="p50")
    ax_lat.plot(c, sweep["p99"], marker="o", color=PERCENTILES[99], label="p99")
    ax_lat.set_xlabel("concurrency (parallel requests)")
    ax_lat.set_ylabel("latency (ms)")
    ax_lat.set_title("Latency vs concurrency")
    ax_lat.set_ylim(bottom=0)
    ax_lat.legend(fontsize="small")
    for a in (ax_tp, ax_lat):
        if len(c) > 2 and c.min() > 0 and c.max() / c.min() >= 8:
            a.set_xscale("log", base=2)  # sweeps double the concurrency: space them evenly
        a.set_xticks(list(c), [str(v) for v in c])
        a.minorticks_off()
        a.grid(alpha=0.3)
    return _show_at_end_of_cell(Plot([ax_tp, ax_lat]), show, own_figure=True)


def plot_traffic(counts: dict[str, int], ax: Axes | None = None, show: bool | None = None) -> Plot:
    """Requests answered by each service of a blue-green pair, with their share in percent.

    Returns a ``Plot`` of one axis (``plot[0]``); ``show`` as for ``plot_latency``.
    """
    if not counts:
        raise ValueError("no traffic to plot: counts is empty")
    own_figure = ax is None
    if ax is None:
        ax = _new_figure(6, 3.5).subplots()
    names = list(counts)
    values = [int(counts[name]) for name in names]
    total = sum(values) or 1
    colours = ["tab:blue", "tab:green", "tab:orange", "tab:purple"]
    bars = ax.bar(names, values, color=[colours[i % 4] for i in range(len(names))])
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            f"{value} ({100.0 * value / total:.0f}%)",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize="small",
        )
    ax.set_xlabel("service")
    ax.set_ylabel("requests answered")
    ax.set_title(f"Traffic split over {sum(values)} requests")
    ax.set_ylim(0, max(values) * 1.15 + 1)
    return _show_at_end_of_cell(Plot([ax]), show, own_figure)


def figure_png(fig: Figure | SubFigure, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes with Agg, whatever the session's backend is."""
    import io

    # savefig picks the Agg canvas for "png" itself: no pyplot, no backend switch.
    buf = io.BytesIO()
    fig.figure.savefig(buf, format="png", dpi=dpi)  # a SubFigure saves its root figure
    return buf.getvalue()
