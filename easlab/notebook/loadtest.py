"""Load tests from a notebook: ``easlab.bench`` and the ``BenchResult`` it returns.

The body is encoded once, as ``PredictClient.predict`` would encode it
(``easlab.wire.build.to_request`` with the service's signature). Worker threads
then send it through one ``PredictClient`` (one attempt per request, a
keep-alive connection per worker in its transport's pool), signed with the
service token as the official client signs it, and each request's timing is the
transport's split: send, first byte (network + server), receive.
"""

from __future__ import annotations

import math
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from easlab.notebook import _target

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["bench", "BenchResult", "check_load", "parse_duration", "MAX_CONCURRENCY", "STOP_AFTER"]

#: The most worker threads one load test starts. Each worker is a thread of this
#: Python process, which runs one at a time (the GIL): past about a thousand, a
#: request's measured time is mostly its thread waiting for its turn, so the
#: percentiles describe this machine's thread switching, not the service. 1024 also
#: matches the kernel's cap on an instance's worker threads (MAX_WORKER_THREADS) and
#: is below nginx's shipped 1024 connections; -c 100000 --duration 10s started 100000
#: threads before this cap.
MAX_CONCURRENCY = 1024

#: A load test stops once this many requests have failed while none has succeeded: a
#: wrong token, a service that is down, a body it refuses fail every request alike, and
#: 10,000 identical failures say no more than the first (with a timeout, they take hours).
STOP_AFTER = 20
#: Answers a service gives at once to shed load while it still serves other requests
#: (429 rate limited; 450 queue full, SPEC §1): a result of the load, not a broken setup,
#: so they do not count towards ``STOP_AFTER``.
SHEDDING = (429, 450)

COLUMNS = [
    "concurrency",
    "worker",
    "start_s",
    "send_ms",
    "server_ms",
    "receive_ms",
    "total_ms",
    "status",
    "bytes",
    "error",
]


def parse_duration(value: str | float | int | None) -> float | None:
    """Seconds from ``10``, ``"10s"``, ``"500ms"``, ``"2m"``; None stays None."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = re.fullmatch(r"\s*(-?[0-9]*\.?[0-9]+)\s*(ms|s|m|min)?\s*", value)
        if not m:
            raise ValueError(f"duration {value!r}: expected a number with ms, s or m, e.g. 10s")
        number, unit = float(m.group(1)), m.group(2) or "s"
        seconds = number * {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0}[unit]
    if not 0 < seconds < math.inf:  # (nan too: it ran no request)
        raise ValueError(f"duration {value!r}: must be positive and finite")
    return seconds


@dataclass
class BenchResult:
    """Per-request timings of a load test, with the summary statistics derived from them.

    ``df`` has one row per request (columns ``concurrency, worker, start_s,
    send_ms, server_ms, receive_ms, total_ms, status, bytes, error``); every
    statistic below is computed from ``df``, so they always agree. Latencies (mean,
    percentiles, max) are those of the successful (HTTP 200) requests, as in
    ``plot_latency``: a failure's time says how fast the service refused, not how fast
    it serves, and errors are counted apart (``errors``). Percentiles interpolate
    linearly between the two nearest requests (pandas' and numpy's default); with one
    request every percentile is its latency.
    ``error`` is empty for a 200, else ``HTTP <status>: <start of the answer>`` or
    the transport error (status 0).
    """

    df: pd.DataFrame
    wall_s: dict[int, float]
    target: str = ""
    sweep: list[int] | None = None
    #: stopped early (Ctrl-C, the notebook's stop button): ``df`` holds what was measured
    interrupted: bool = False
    #: why the run stopped before its ``n`` or ``duration`` (``STOP_AFTER`` failures and
    #: no success), None when it ran to its end
    stopped: str | None = None
    _figures: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- statistics ---------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.df)

    @property
    def ok(self) -> int:
        """Requests answered with HTTP 200."""
        return int((self.df["status"] == 200).sum())

    @property
    def throughput(self) -> float:
        """Successful (HTTP 200) requests per second of wall time, over all levels."""
        wall = sum(self.wall_s.values())
        return self.ok / wall if wall > 0 else 0.0

    @property
    def _ok_ms(self) -> pd.Series:
        """``total_ms`` of the successful requests."""
        return self.df.loc[self.df["status"] == 200, "total_ms"]

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0–100) of the successful requests' ``total_ms``
        (NaN when none succeeded)."""
        ok = self._ok_ms
        return float(ok.quantile(q / 100.0)) if not ok.empty else float("nan")

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p90(self) -> float:
        return self.percentile(90)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def max(self) -> float:
        ok = self._ok_ms
        return float(ok.max()) if not ok.empty else float("nan")

    @property
    def mean(self) -> float:
        ok = self._ok_ms
        return float(ok.mean()) if not ok.empty else float("nan")

    @property
    def errors(self) -> dict[int, int]:
        """Counts of non-200 answers by status code (0 = transport error)."""
        bad = self.df[self.df["status"] != 200]["status"]
        return {int(k): int(v) for k, v in bad.value_counts().sort_index().items()}

    @property
    def errors_text(self) -> str:
        """``errors`` in words: ``HTTP 503: 10, no answer: 2`` (status 0), or ``none``."""
        return (
            ", ".join(
                f"{'no answer' if code == 0 else f'HTTP {code}'}: {count}"
                for code, count in self.errors.items()
            )
            or "none"
        )

    @property
    def first_error(self) -> str | None:
        """The reason of the first failed request (``HTTP 400: <body>``), None if none failed;
        the kernel's CLI commands as magics (``%eas logs NAME``), as %%eas predict says them."""
        from easlab.notebook.display import notebook_terms

        failed = self.df[self.df["status"] != 200]
        return notebook_terms(str(failed["error"].iloc[0])) if not failed.empty else None

    @property
    def sweep_df(self) -> pd.DataFrame | None:
        """One row per concurrency level run: throughput, then p50, p90, p99 and max of
        its successful requests, errors (None if no sweep). A level that never ran (the
        run was interrupted or stopped before it) has no row."""
        if not self.sweep:
            return None
        import pandas as pd

        rows = []
        for level in self.sweep:
            if level not in self.wall_s:
                continue
            part = self.df[self.df["concurrency"] == level]
            ok = part.loc[part["status"] == 200, "total_ms"]
            wall = self.wall_s[level]
            rows.append(
                {
                    "concurrency": level,
                    "requests": len(part),
                    "throughput": len(ok) / wall if wall > 0 else 0.0,
                    "p50": float(ok.quantile(0.5)),
                    "p90": float(ok.quantile(0.9)),
                    "p99": float(ok.quantile(0.99)),
                    "max": float(ok.max()),
                    "errors": len(part) - len(ok),
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """A one-column table: requests, throughput, latency percentiles (ms), errors."""
        import pandas as pd

        errors = self.errors_text
        if 0 < self.succeeded < self.n:  # how many of them failed, then by status
            errors = f"{self.n - self.succeeded} of {self.n} failed: {errors}"
        rows = {"requests": f"{self.n}", "errors": errors}
        if self.interrupted:
            rows["stopped"] = "interrupted: a partial result"
        elif self.stopped:
            rows["stopped"] = self.stopped
        if self.first_error is not None:
            rows["first error"] = self.first_error
        pooled = " (all levels)" if self.sweep and len(self.sweep) > 1 else ""
        rows["concurrency"] = ", ".join(str(c) for c in (self.sweep or sorted(self.wall_s)))
        rows["wall time (s)"] = f"{sum(self.wall_s.values()):.2f}"
        if self.succeeded:
            # latencies of failed requests would read as the service's speed: theirs are left out
            if self.succeeded < self.n:
                rows["latencies of"] = (
                    f"the {self.succeeded} HTTP 200 answers ({self.n - self.succeeded} failed "
                    "requests left out)"
                )
            rows[f"throughput (req/s){pooled}"] = f"{self.throughput:.1f}"
            rows[f"mean (ms){pooled}"] = f"{self.mean:.2f}"
            rows[f"p50 (ms){pooled}"] = f"{self.p50:.2f}"
            rows[f"p90 (ms){pooled}"] = f"{self.p90:.2f}"
            rows[f"p99 (ms){pooled}"] = f"{self.p99:.2f}"
            rows[f"max (ms){pooled}"] = f"{self.max:.2f}"
        return pd.DataFrame({"value": list(rows.values())}, index=list(rows))

    @property
    def succeeded(self) -> int:
        """How many requests were answered with 200."""
        return int((self.df["status"] == 200).sum()) if not self.df.empty else 0

    # -- display ------------------------------------------------------------
    def plot(self, show: bool | None = None) -> Any:
        """Latency distribution and latency over time: ``easlab.plot_latency(self)``."""
        from easlab.notebook.plots import plot_latency

        return plot_latency(self, show=show)

    def _repr_html_(self) -> str:
        from easlab.notebook import display, plots

        parts = [f"<b>easlab bench</b> {display.escape(self.target)}"]
        if self.sweep and len(self.sweep) > 1:
            # per level first: pooled percentiles mix different loads
            sweep = self.sweep_df
            assert sweep is not None
            parts.append(sweep.to_html(index=False, border=0, float_format="%.2f"))
        parts.append(self.summary().to_html(header=False, border=0))
        if self.succeeded:
            parts.append(display.png_img(plots.plot_latency(self, show=False).png()))
            if self.sweep and len(self.sweep) > 1:
                parts.append(display.png_img(plots.plot_sweep(self, show=False).png()))
        elif not self.df.empty:
            parts.append(
                "<p style='color:#b3261e'>No request succeeded: no latency to plot. "
                "The errors above say why; the service's logs say more.</p>"
            )
        return "<div class='easlab-bench'>" + "".join(parts) + "</div>"

    def __repr__(self) -> str:
        if not self.n:
            return "<BenchResult 0 requests>"
        if not self.succeeded:
            return (
                f"<BenchResult {self.n} requests, all failed ({self.errors_text})"
                + (f" ({self.first_error})" if self.first_error else "")
                + ">"
            )
        return (
            f"<BenchResult {self.n} requests, {self.throughput:.1f} req/s, "
            f"p50={self.p50:.2f} ms p99={self.p99:.2f} ms, errors: {self.errors_text}"
            + (f" ({self.first_error})" if self.first_error else "")
            + ">"
        )


#: the most of a failed request's answer the ``error`` column keeps
ERROR_CHARS = 300


def _error_text(resp: Any) -> str:
    """Why a request failed, for the ``error`` column: the status and the server's answer
    on one line, cut at a word past ``ERROR_CHARS`` (so a bench of a failing service says
    why); empty for a 200."""
    if resp.status == 200:
        return ""
    reason = bytes(resp.body[: ERROR_CHARS * 4]).decode("utf-8", "replace")
    reason = _shorten(" ".join(reason.split()), ERROR_CHARS)
    return f"HTTP {resp.status}: {reason}" if reason else f"HTTP {resp.status}"


def _shorten(text: str, limit: int) -> str:
    """``text``, or its start cut at a word with `` …`` when longer than ``limit``."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" ,;:") + " …"


class _Progress:
    """tqdm's bar: a notebook widget in Jupyter, a terminal line elsewhere, with the
    count, the rate and the time left."""

    def __init__(self, total: int | None, label: str, enabled: bool, seconds: float | None) -> None:
        self.bar: Any = None
        self.seconds = seconds
        self.last = 0
        if not enabled:
            return
        if _in_notebook_frontend():
            from tqdm.notebook import tqdm
        else:
            from tqdm import tqdm
        if seconds:  # a timed run: the bar counts seconds, the postfix requests
            self.bar = tqdm(total=round(seconds, 1), desc=label, unit="s", leave=True)
        else:
            self.bar = tqdm(total=total, desc=label, unit="req", leave=True)

    def update(self, done: int, elapsed: float) -> None:
        if self.bar is None:
            return
        if self.seconds:
            self.bar.n = round(min(elapsed, self.seconds), 1)
            self.bar.set_postfix_str(f"{done} requests", refresh=False)
            self.bar.refresh()
        else:
            self.bar.update(done - self.last)
            self.last = done

    def close(self, done: int, interrupted: bool = False) -> None:
        if self.bar is None:
            return
        if interrupted:
            self.bar.set_postfix_str(f"interrupted after {done} requests", refresh=False)
        self.bar.close()


def _in_notebook_frontend() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class _Failing:
    """Whether a load test has failed ``STOP_AFTER`` times with no success yet (shared by
    its levels; updated under a level's lock)."""

    def __init__(self) -> None:
        self.succeeded = False
        self.failed = 0

    def note(self, status: int) -> bool:
        """Count one answer (0: none came); True when the load test should stop."""
        if status == 200:
            self.succeeded = True
        elif status not in SHEDDING:
            self.failed += 1
        return self.stop

    @property
    def stop(self) -> bool:
        return not self.succeeded and self.failed >= STOP_AFTER


def _run_level(
    client: Any,
    body: bytes,
    n: int,
    concurrency: int,
    duration: float | None,
    progress: bool,
    failing: _Failing | None = None,
) -> tuple[list[tuple[Any, ...]], float, bool]:
    """Run one concurrency level; return its rows, its wall time in seconds, and whether
    it was interrupted (Ctrl-C, the notebook's stop button): then the requests in
    flight finish, and what was measured is kept. With ``failing``, no new request
    starts once it says stop (the ones in flight finish)."""
    failing = failing or _Failing()
    lock = threading.Lock()
    issued = 0
    done = 0
    stop = threading.Event()
    # waited on instead of Thread.join: a KeyboardInterrupt inside join() can leave a
    # live thread looking finished (CPython gh-90882), and its rows would be lost
    finished = threading.Event()
    # no more workers than requests: -c 100000 -n 5 starts 5 threads, not 100000 idle ones
    workers = concurrency if duration else min(concurrency, n)
    running = workers
    rows: list[tuple[Any, ...]] = []
    label = f"concurrency {concurrency}"
    if workers < concurrency:  # -n 5 -c 8: never more than 5 in flight; the bar says so
        label += f" ({workers} at once: {n} requests)"
    bar = _Progress(None if duration else n, label, progress, duration)
    start = time.perf_counter()
    deadline = start + duration if duration else None

    def take() -> bool:
        nonlocal issued
        if stop.is_set():
            return False
        with lock:
            if deadline is not None:
                return time.perf_counter() < deadline
            if issued >= n:
                return False
            issued += 1
            return True

    def worker(index: int) -> None:
        from easlab.client.transport import TransportError

        nonlocal done
        local: list[tuple[Any, ...]] = []
        try:
            while take():
                t = time.perf_counter() - start
                try:
                    resp = client.send(body)
                except TransportError as exc:  # no answer: status 0, the wait as "server"
                    ms = exc.elapsed_ms
                    text = f"{exc}: {exc.hint}" if exc.hint else str(exc)
                    local.append((concurrency, index, t, 0.0, ms, 0.0, ms, 0, 0, text))
                    status = 0
                else:
                    status = resp.status
                    tm = resp.timing
                    local.append(
                        (
                            concurrency,
                            index,
                            t,
                            tm.send_ms,
                            tm.first_byte_ms,
                            tm.read_ms,
                            tm.total_ms,
                            resp.status,
                            len(resp.body),
                            _error_text(resp),
                        )
                    )
                with lock:
                    done += 1
                    if failing.note(status):
                        stop.set()
        finally:
            nonlocal running
            with lock:
                rows.extend(local)
                running -= 1
                if running == 0:
                    finished.set()

    threads = [
        threading.Thread(target=worker, args=(i,), name=f"easlab-bench-{i}", daemon=True)
        for i in range(workers)
    ]
    interrupted = False
    try:
        for th in threads:
            th.start()
    except KeyboardInterrupt:  # while starting them: those started stop, the others never run
        interrupted = True
        stop.set()
    # done when the workers say so, or (Ctrl-C while starting them: one never started never
    # says so) when none started is alive
    while not finished.is_set() and (not interrupted or any(th.is_alive() for th in threads)):
        try:
            finished.wait(timeout=0.1)
            bar.update(done, time.perf_counter() - start)
        except KeyboardInterrupt:
            # no new requests; the ones in flight end (each within the client's timeout)
            interrupted = True
            stop.set()
    wall = time.perf_counter() - start
    bar.close(len(rows), interrupted)
    return rows, wall, interrupted


def bench(
    service_or_url: Any,
    body: Any,
    n: int = 1000,
    concurrency: int = 8,
    duration: str | float | None = None,
    sweep: list[int] | str | None = None,
    token: str | None = None,
    timeout: float = 30.0,
    progress: bool = True,
) -> BenchResult:
    """Load-test a service and return per-request timings.

    service_or_url: a ``Service``, a service name on the local kernel, or a
        prediction URL (then pass ``token``).
    body: what ``PredictClient.predict`` takes, encoded the same way: bytes, text,
        a dict (a tensor request from the service's signature, or JSON for a
        service without one), a DataFrame (JSON records; for a tensor service its
        columns, or its values for a one-input service, fill the inputs), or an easlab
        request object. A str for a tensor service is refused before anything is sent.
    n: requests per concurrency level (ignored when ``duration`` is given).
    duration: run each level for this long instead (``"10s"``, ``30``).
    sweep: concurrency levels to run one after another, e.g. ``[1, 2, 4, 8]``.

    >>> r = easlab.bench(svc, {"x": x}, n=200, concurrency=4)   # doctest: +SKIP
    >>> r.p99, r.throughput, r.df.head()                          # doctest: +SKIP
    """
    result = _bench(service_or_url, body, n, concurrency, duration, sweep, token, timeout, progress)
    note = stop_note(result)
    if note:
        print(note, file=sys.stderr)
    return result


def stop_note(result: BenchResult) -> str | None:
    """Why a load test ended before its ``n`` or ``duration`` (Ctrl-C; ``STOP_AFTER``
    failures and no success), in a sentence; None when it ran to its end."""
    if result.interrupted:
        return (
            f"bench interrupted: keeping the {result.n} requests measured so far "
            f"(levels run: {', '.join(map(str, result.wall_s))})"
        )
    if result.stopped:
        return (
            f"bench stopped after {result.n} requests: none succeeded ({result.errors_text}); "
            f"the first error was {result.first_error}. Fix what it says and run the load test "
            "again."
        )
    return None


def _bench(
    service_or_url: Any,
    body: Any,
    n: int,
    concurrency: int,
    duration: str | float | None,
    sweep: list[int] | str | None,
    token: str | None,
    timeout: float,
    progress: bool,
) -> BenchResult:
    """``bench`` without its note on stderr (``%eas bench`` says it its own way)."""
    import pandas as pd

    from easlab.errors import RequestError
    from easlab.notebook._record import body_of, fit_body
    from easlab.wire.build import tensors_text, to_request

    levels, seconds = check_load(n, concurrency, duration, sweep, timeout)
    target = _target.resolve(service_or_url, token=token, timeout=timeout)
    rows: list[tuple[Any, ...]] = []
    walls: dict[int, float] = {}
    interrupted = False
    failing = _Failing()
    try:
        if isinstance(body, str) and target.is_tensor:
            signature = target.signature()
            assert signature is not None
            raise RequestError(
                f"the body is a str ({_shorten(body, 60)!r}), and service "
                f"{target.service_name!r} takes tensors {tensors_text(signature)}: pass a dict "
                "of input name -> array (bytes are sent as they are)"
            )
        payload = body_of(to_request(fit_body(body, target), target.signature_source))
        client = target.client
        most = max(levels) if seconds else min(max(levels), n)  # _run_level's workers
        if client.max_connection_count < most:
            client.set_max_connection_count(most)  # a pooled connection per worker
            client.init()
        for level in levels:
            level_rows, wall, interrupted = _run_level(
                client, payload, n, level, seconds, progress, failing
            )
            rows.extend(level_rows)
            walls[level] = walls.get(level, 0.0) + wall
            if interrupted or failing.stop:
                break
    finally:
        if target is not service_or_url:  # made here: let its connections go
            target.close()
    df = pd.DataFrame(rows, columns=COLUMNS)
    df = df.sort_values(["concurrency", "start_s"], kind="stable").reset_index(drop=True)
    df["status"] = df["status"].astype("int64")
    result = BenchResult(df, walls, target.url, levels if sweep is not None else None)
    result.interrupted = interrupted
    if failing.stop and not interrupted:
        result.stopped = f"after {result.n} requests: none succeeded"
    return result


def check_load(
    n: int,
    concurrency: int,
    duration: str | float | None = None,
    sweep: list[int] | str | None = None,
    timeout: float = 30.0,
) -> tuple[list[int], float | None]:
    """The concurrency levels and seconds a load test runs (``bench``'s arguments),
    or ValueError saying which argument is wrong: nothing is started before this.

    >>> check_load(100, 8, "10s")
    ([8], 10.0)
    """
    if sweep is not None:
        levels = _levels(sweep)
        if not levels:
            raise ValueError(f"sweep {sweep!r} has no concurrency level; e.g. sweep=[1, 2, 4, 8]")
    else:
        levels = [_whole("concurrency", concurrency)]
    if any(c < 1 for c in levels):
        given = levels if sweep is not None else levels[0]
        raise ValueError(f"concurrency must be at least 1, got {given}")
    if duration is None:
        n = _whole("n", n)
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
    seconds = parse_duration(duration)
    if not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
        raise ValueError(
            f"timeout {timeout!r}: expected the seconds one request may take, e.g. timeout=30"
        )
    most = max(levels)
    threads = most if seconds else min(most, n)  # _run_level's workers
    if threads > MAX_CONCURRENCY:
        asked = f"sweep level {most}" if sweep is not None else f"concurrency {most}"
        run = f"for {seconds:g} s" if seconds else f"for n={n} requests"
        raise ValueError(
            f"{asked} {run} would start {threads} threads; a local load test runs at most "
            f"{MAX_CONCURRENCY}: with more threads than that it measures this machine's "
            f"thread switching rather than the service. Use a concurrency of {MAX_CONCURRENCY} "
            "or less (for more load, run load tests from several processes or machines)"
        )
    return levels, seconds


def _whole(name: str, value: Any) -> int:
    """``value`` as an int when it is a whole number (``8``, ``8.0``, ``"8"``), else
    ValueError naming ``name``: ``n=2.5`` failed deep in a worker, ``concurrency=2.5`` ran 2."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not number.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def _levels(sweep: list[int] | str) -> list[int]:
    if isinstance(sweep, str):
        try:
            return [int(part) for part in sweep.split(",") if part.strip()]  # "2.5": refused
        except ValueError:
            raise ValueError(
                f"sweep {sweep!r}: expected comma-separated integers, e.g. 1,2,4,8"
            ) from None
    return [_whole("a sweep level", c) for c in sweep]
