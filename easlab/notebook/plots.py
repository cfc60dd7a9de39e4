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


def _what(value: Any) -> str:
    """``None``, ``str 'plain'``, ``DataFrame``: what a plot was given, for its error."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{name} {value!r}" if isinstance(value, str | int | float) else name


def _frame(result: Any) -> Any:
    """The per-request DataFrame of a BenchResult (or a DataFrame given directly)."""
    df = getattr(result, "df", result)
    if "total_ms" not in getattr(df, "columns", ()):
        raise TypeError(
            f"expected a BenchResult or a DataFrame with a 'total_ms' column, got {_what(result)}: "
            "pass what `%eas bench NAME --body BODY -o r` stores in r (or r.df), or "
            "r = easlab.bench(...)"
        )
    if df.empty:
        raise ValueError("no requests to plot: the load test recorded no rows")
    return df


#: a latency axis ends at this percentile when a few outliers would squash the rest
CLIP_PERCENTILE = 99.5
#: ... which it does when the slowest request is this many times that percentile
_OUTLIER_RATIO = 3.0
_LEVEL_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink"]


def _outside_legend(ax: Axes, **kwargs: Any) -> None:
    """A legend beside the axes, never over the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", **kwargs)


def _clip_at(values: Any) -> float | None:
    """Where a latency axis should end, or None to show everything.

    One slow request (a 200 ms GC pause among 1 ms answers) would otherwise put
    every other request into a single histogram bar and a vertical CDF.
    """
    import numpy as np

    if len(values) < 20:
        return None
    edge = float(np.percentile(values, CLIP_PERCENTILE))
    top = float(values.max())
    return edge if edge > 0 and top > _OUTLIER_RATIO * edge else None


def _spread(lo: float, hi: float) -> tuple[float, float]:
    """A latency axis from ``lo`` to ``hi`` ms, widened around them when they are (nearly)
    one value (one request, or identical latencies): 10% of the value each side."""
    if hi - lo >= 0.02 * max(abs(hi), 1e-9):
        return lo, hi
    pad = max(0.1 * abs(hi), 1e-3)
    return max(lo - pad, 0.0), hi + pad


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _no_success_message(df: Any) -> str:
    counts = df["status"].value_counts()
    summary = ", ".join(
        f"{f'HTTP {int(code)}' if int(code) else 'no answer'} × {int(n)}"
        for code, n in counts.items()
    )
    return (
        f"no successful request to plot: all {len(df)} failed ({summary}); "
        "look at result.errors and the service's logs"
    )


def plot_latency(result: Any, ax: Axes | None = None, show: bool | None = None) -> Plot:
    """Latency histogram with its CDF and p50/p90/p99 lines, and latency over time.

    The distribution is of the successful requests (failures are marked on the
    timeline); a sweep gets one colour per concurrency level. When a few
    outliers would squash the rest, the latency axes end at p99.5 and the
    title says how many requests lie beyond. With ``ax`` given, only the
    distribution is drawn there (with the CDF on a twin axis). Returns a
    ``Plot`` of ``[distribution_ax, cdf_ax, over_time_ax]`` (the last one absent
    when ``ax`` was given). ``show``: display the figure at the end of the
    notebook cell; by default only when easlab made the figure (no ``ax``) and
    runs in a Jupyter kernel.
    """
    import numpy as np

    df = _frame(result)
    status = df["status"] if "status" in df.columns else None
    ok = (status == 200).to_numpy() if status is not None else np.ones(len(df), dtype=bool)
    if not ok.any():
        raise ValueError(_no_success_message(df))
    good = df[ok]
    total = good["total_ms"].to_numpy(dtype=float)
    levels = (
        sorted(int(c) for c in df["concurrency"].unique()) if "concurrency" in df.columns else []
    )
    axes: list[Axes] = []
    if ax is None:
        fig = _new_figure(12, 4.2)
        ax, ax_time = fig.subplots(1, 2, width_ratios=[1.1, 1])
    else:
        ax_time = None

    clip = _clip_at(total)
    shown = total[total <= clip] if clip is not None else total
    lo, hi = _spread(float(shown.min()), float(shown.max()))
    bins = np.linspace(lo, hi, min(60, max(10, len(shown) // 10)))
    if len(levels) > 1:
        for i, level in enumerate(levels):
            part = good["total_ms"][good["concurrency"] == level].to_numpy(dtype=float)
            ax.hist(
                part[part <= hi] if clip is not None else part,
                bins=list(bins),
                color=_LEVEL_COLOURS[i % len(_LEVEL_COLOURS)],
                alpha=0.45,
                label=f"concurrency {level}",
            )
    else:
        ax.hist(shown, bins=list(bins), color="tab:blue", alpha=0.55, label="requests")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    # a count of requests: no 0.2-request ticks when a bar holds one or two of them
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    title = f"Latency distribution ({_count(len(total), 'successful request')})"
    if clip is not None:
        beyond = int((total > clip).sum())
        title += f"\naxis ends at p{CLIP_PERCENTILE:g} = {clip:.2f} ms; {beyond} slower not shown"
        ax.set_xlim(right=clip)
    ax.set_title(title, fontsize="medium")

    cdf_ax = ax.twinx()
    xs = np.sort(total)
    # the empirical CDF: a step at each request, from 0 at the fastest (a line between
    # requests read as latencies no request had)
    cdf_ax.plot(
        np.concatenate([xs[:1], xs]),
        np.arange(0, len(xs) + 1) / len(xs),
        drawstyle="steps-post",
        color="black",
        lw=1.2,
        label="CDF",
    )
    cdf_ax.set_ylim(0, 1.02)
    cdf_ax.set_ylabel("cumulative fraction of requests")
    if clip is not None:
        cdf_ax.set_xlim(right=clip)

    for axis in (ax, cdf_ax):
        # latencies read as they are: never "+1.658" beside ticks of 0.0002
        axis.ticklabel_format(axis="x", style="plain", useOffset=False)
    if clip is None:
        ax.set_xlim(lo, hi)
    for q, colour in PERCENTILES.items():
        value = float(np.quantile(total, q / 100.0))  # linear, as pandas' quantile
        ax.axvline(
            value, color=colour, ls="--", lw=1.4, label=f"p{q} = {value:.2f} ms", gid=f"p{q}"
        )
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = cdf_ax.get_legend_handles_labels()
    # below the axes: beside them would sit on the CDF's own axis labels
    ax.legend(
        handles + h2,
        labels + l2,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.18),
        ncol=3,
        fontsize="small",
    )
    axes += [ax, cdf_ax]

    if ax_time is not None:
        _draw_timeline(ax_time, df, ok, levels, clip)
        axes.append(ax_time)
    return _show_at_end_of_cell(Plot(axes), show, own_figure=ax_time is not None)


def _draw_timeline(ax: Axes, df: Any, ok: Any, levels: list[int], clip: float | None) -> None:
    """Latency over the run: one colour per concurrency level, levels one after another,
    failures as crosses labelled with their status."""
    import numpy as np

    total = df["total_ms"].to_numpy(dtype=float)
    # thousands of requests want small dots; a handful drawn as small would be specks
    dot = 6 if len(df) > 50 else 24
    start = df["start_s"].to_numpy(dtype=float) if "start_s" in df.columns else np.arange(len(df))
    start = start.astype(float).copy()
    if len(levels) > 1:
        # each level's clock starts at 0: lay the levels end to end
        offset = 0.0
        for level in levels:
            mine = (df["concurrency"] == level).to_numpy()
            start[mine] += offset
            offset = float(start[mine].max()) + 0.05 * max(offset, 1e-3)
        for i, level in enumerate(levels):
            mine = (df["concurrency"] == level).to_numpy() & ok
            ax.scatter(
                start[mine],
                total[mine],
                s=dot,
                alpha=0.5,
                color=_LEVEL_COLOURS[i % len(_LEVEL_COLOURS)],
                label=f"HTTP 200, concurrency {level}",
                zorder=3,
            )
    else:
        ax.scatter(
            start[ok], total[ok], s=dot, alpha=0.5, color="tab:blue", label="HTTP 200", zorder=3
        )
    if "status" in df.columns:
        codes = df["status"].to_numpy()
        for j, code in enumerate(sorted(set(codes[~ok].tolist()))):
            mine = codes == code
            ax.scatter(
                start[mine],
                total[mine],
                s=14,
                marker="x",
                color=["tab:red", "darkred", "magenta"][j % 3],
                label=f"HTTP {int(code)}" if int(code) else "no answer",
                zorder=3,
            )
    good = total[ok]
    p99 = float(np.quantile(good, 0.99))
    # under the requests (zorder 3): a request at p99 (the only one, in a run of one)
    # is not hidden by the line
    ax.axhline(p99, color=PERCENTILES[99], ls="--", lw=1.2, label=f"p99 = {p99:.2f} ms", zorder=2)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("latency (ms)")
    # the run from its start to its last answer, latencies from 0: a few requests (one)
    # would otherwise get an axis zoomed onto them, ticks piled up on a range of µs
    ends = start + total / 1000.0
    ax.set_xlim(0, float(np.nanmax(ends)) * 1.02 if len(ends) else 1.0)
    ax.locator_params(axis="x", nbins=5)
    title = "Latency over time"
    if clip is not None:
        ax.set_ylim(0, clip * 1.05)
        title += f" (axis ends at p{CLIP_PERCENTILE:g})"
    else:
        ax.set_ylim(0, float(np.nanmax(total)) * 1.1 or 1.0)
    ax.set_title(title, fontsize="medium")
    _outside_legend(ax)


def plot_sweep(result: Any, show: bool | None = None) -> Plot:
    """Throughput and latency (p50, p99) against concurrency for a sweep.

    Accepts a ``BenchResult`` with ``sweep_df`` or that DataFrame itself.
    Returns a ``Plot`` of ``[throughput_ax, latency_ax]``; ``show`` as for
    ``plot_latency``.
    """
    sweep = getattr(result, "sweep_df", result)
    if sweep is None and hasattr(result, "sweep_df"):
        levels = ", ".join(str(c) for c in sorted(getattr(result, "wall_s", {}) or {})) or "?"
        raise ValueError(
            f"no sweep to plot: this load test ran one concurrency level ({levels}). Run "
            "`%eas bench NAME --body BODY --sweep 1,2,4,8 -o sweep` (or easlab.bench(..., "
            "sweep=[1, 2, 4, 8])) and plot that; plot_latency(r) draws a single run"
        )
    if "concurrency" not in getattr(sweep, "columns", ()):
        raise TypeError(
            f"expected a BenchResult of a sweep or its sweep_df, got {_what(result)}: pass "
            "what `%eas bench NAME --body BODY --sweep 1,2,4,8 -o sweep` stores in sweep"
        )
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
    _outside_legend(ax_lat)
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
    import numbers
    from collections.abc import Mapping

    if not isinstance(counts, Mapping) and hasattr(counts, "value_counts"):
        counts = counts.to_dict()  # a pandas Series: index -> count, as value_counts() gives
    if not isinstance(counts, Mapping):
        raise TypeError(
            f"plot_traffic takes requests answered per service, got {_what(counts)}: pass a "
            "dict such as {'greeter': 70, 'greeter_ab12': 30} (a Counter of answers works)"
        )
    if not counts:
        raise ValueError("no traffic to plot: counts is empty")
    names = list(counts)
    values: list[int] = []
    for name in names:
        value = counts[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not float(value).is_integer()  # NaN and inf too (int() of them raised)
        ):
            raise TypeError(
                f"counts[{name!r}] is {_what(value)}: each service's value must be a whole "
                "number of requests"
            )
        values.append(int(value))
    if not any(values):  # an empty chart titled "over 0 requests" said nothing
        raise ValueError(
            f"no traffic to plot: every count is 0 ({', '.join(map(str, names))}); send "
            "requests to the entry endpoint first, then count the answers"
        )
    own_figure = ax is None
    if ax is None:
        ax = _new_figure(6, 3.5).subplots()
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
