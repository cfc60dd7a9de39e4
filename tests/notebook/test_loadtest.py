"""easlab.bench against a real HTTP server: rows, percentiles, errors, sweeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from easlab.notebook.loadtest import BenchResult, bench, parse_duration

from .echo_server import EchoServer


def test_bench_rows_and_percentiles_agree_with_the_frame():
    with EchoServer() as server:
        r = bench(server.url, b"hello", n=200, concurrency=4, token=server.token, progress=False)
        assert server.signed == 200  # every request carried the EAS signature
    assert isinstance(r, BenchResult)
    assert len(r.df) == 200 and r.ok == 200 and r.errors == {}
    assert set(r.df["worker"]) == {0, 1, 2, 3}
    assert (r.df["bytes"] == 5).all()
    total = r.df["total_ms"]
    assert r.p50 == pytest.approx(np.percentile(total, 50))
    assert r.p90 == pytest.approx(np.percentile(total, 90))
    assert r.p99 == pytest.approx(np.percentile(total, 99))
    assert r.max == pytest.approx(total.max())
    parts = r.df["send_ms"] + r.df["server_ms"] + r.df["receive_ms"]
    assert np.allclose(parts, total)
    assert r.throughput == pytest.approx(200 / r.wall_s[4])
    summary = r.summary()
    assert summary.loc["requests", "value"] == "200"
    assert summary.loc["p99 (ms)", "value"] == f"{r.p99:.2f}"


def test_the_progress_bar_says_how_many_run_at_once(capsys):
    """-n 5 -c 8 runs 5 requests at once (no more workers than requests): the bar said
    "concurrency 8" all the same; it says 5 at once now, and nothing more when -c fits."""
    with EchoServer() as server:
        bench(server.url, b"x", n=5, concurrency=8, token=server.token, progress=True)
        assert "concurrency 8 (5 at once: 5 requests)" in capsys.readouterr().err
        bench(server.url, b"x", n=5, concurrency=2, token=server.token, progress=True)
        err = capsys.readouterr().err
        assert "concurrency 2" in err and "at once" not in err


def test_bench_counts_errors_by_status():
    with EchoServer(fail_every=5) as server:
        r = bench(server.url, "x", n=50, concurrency=2, token=server.token, progress=False)
    assert r.errors == {503: 10}
    assert r.ok == 40


def test_wrong_token_is_counted_as_401():
    with EchoServer() as server:
        r = bench(server.url, "x", n=10, concurrency=2, token="nope", progress=False)
    assert r.errors == {401: 10}


def test_failing_service_says_why():
    # A bench where every call fails must show the server's reason, not just counts.
    with EchoServer() as server:
        r = bench(server.url, "x", n=6, concurrency=2, token="nope", progress=False)
    assert (r.df["error"].str.len() > 0).all()
    assert "401" in r.summary().loc["errors", "value"]
    assert "first error" in r.summary().index
    assert r.summary().loc["first error", "value"].startswith("HTTP 401: ")
    assert "HTTP 401: " in repr(r)


def test_a_long_error_is_kept_whole_or_cut_at_a_word():
    from types import SimpleNamespace

    from easlab.notebook.loadtest import ERROR_CHARS, _error_text

    short = "cannot parse the request as any of tf, onnx: unsupported wire type 3 (field 11)"
    assert _error_text(SimpleNamespace(status=400, body=short.encode())) == f"HTTP 400: {short}"
    long = " ".join(["unsupported wire type 3 (field 11)"] * 20)
    text = _error_text(SimpleNamespace(status=400, body=long.encode()))
    assert text.endswith(" …") and len(text) <= len("HTTP 400: ") + ERROR_CHARS + 2
    kept = text[len("HTTP 400: ") : -2]
    assert long.startswith(kept) and long[len(kept)] == " "  # cut between words


def test_a_str_body_for_a_tensor_service_is_refused_before_sending():
    from easlab.errors import RequestError

    signature = {"inputs": [{"name": "x", "shape": [-1, 4], "type": "DT_FLOAT"}], "format": "tf"}
    with EchoServer(signature=signature) as server:
        with pytest.raises(RequestError, match=r"takes tensors \{x: float32\[-1,4\]\}"):
            bench(server.url, '{"x": [[1, 2, 3, 4]]}', n=5, token=server.token, progress=False)
        assert [m for m, _ in server.received] == ["GET"]  # nothing was sent


def test_sweep_has_one_row_per_concurrency():
    with EchoServer() as server:
        r = bench(server.url, b"x", n=40, sweep="1,2,4", token=server.token, progress=False)
    sweep = r.sweep_df
    assert list(sweep["concurrency"]) == [1, 2, 4]
    assert list(sweep["requests"]) == [40, 40, 40]
    assert len(r.df) == 120
    level = r.df[r.df["concurrency"] == 2]["total_ms"]
    assert sweep.loc[1, "p99"] == pytest.approx(level.quantile(0.99))
    assert (sweep["throughput"] > 0).all()


def test_duration_runs_for_a_time_not_a_count():
    with EchoServer() as server:
        r = bench(
            server.url,
            b"x",
            n=1,
            duration="300ms",
            concurrency=2,
            token=server.token,
            progress=False,
        )
    assert len(r.df) > 2
    assert 0.25 < r.wall_s[2] < 3


def test_transport_errors_are_status_zero():
    r = bench("http://127.0.0.1:9/api/predict/none", b"x", n=3, concurrency=1, progress=False)
    assert r.errors == {0: 3}
    assert r.df["error"].str.contains("Connection").all()
    # a refused connection on this machine is a kernel that is not running: say how to look
    assert "nothing listens there" in r.first_error and "easlab kernel status" in repr(r)


def test_html_repr_has_summary_and_plot():
    df = pd.DataFrame(
        {
            "concurrency": 2,
            "worker": 0,
            "start_s": np.linspace(0, 1, 20),
            "send_ms": 0.1,
            "server_ms": np.linspace(1, 3, 20),
            "receive_ms": 0.1,
            "total_ms": np.linspace(1.2, 3.2, 20),
            "status": 200,
            "bytes": 1,
            "error": "",
        }
    )
    r = BenchResult(df, {2: 1.0}, "http://h/api/predict/x")
    html = r._repr_html_()
    assert "p99 (ms)" in html and "data:image/png;base64," in html
    assert r.throughput == 20.0


@pytest.mark.parametrize(
    "text, seconds", [("10s", 10.0), ("500ms", 0.5), ("2m", 120.0), (3, 3.0), ("1.5", 1.5)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("ten", "expected a number"),
        ("-1s", "must be positive"),
        ("0", "must be positive and finite"),
    ],
)
def test_parse_duration_rejects(bad, why):
    with pytest.raises(ValueError, match=f"duration .*{why}"):
        parse_duration(bad)


def test_bench_refuses_bad_arguments():
    with pytest.raises(ValueError, match="concurrency"):
        bench("http://127.0.0.1:9/api/predict/x", b"", sweep=[0, 1], progress=False)
    with pytest.raises(ValueError, match="not a prediction URL"):
        bench("http://127.0.0.1:9/other", b"", progress=False)


def test_ctrl_c_ends_the_run_and_keeps_the_partial_result(capsys):
    import _thread
    import signal
    import threading
    import time

    # A process started in the background by a non-interactive shell ignores SIGINT, and
    # then interrupt_main() does nothing: give this test the handler a notebook kernel has.
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    with EchoServer() as server:

        def stop_once_it_runs() -> None:
            # what Ctrl-C / ■ stop sends, once requests are flowing: a fixed 0.5 s landed
            # before bench() had begun on a loaded machine, and crashed the test's process
            deadline = time.monotonic() + 60
            while server.calls < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            _thread.interrupt_main()

        timer = threading.Thread(target=stop_once_it_runs, daemon=True)
        timer.start()
        try:
            r = bench(
                server.url, b"x", duration="30s", sweep="1,2", token=server.token, progress=True
            )
        finally:
            timer.join()
            signal.signal(signal.SIGINT, old)
    assert r.interrupted and 0 < r.n and list(r.wall_s) == [1]  # level 2 never started
    assert sum(r.wall_s.values()) < 10
    err = capsys.readouterr().err
    assert "bench interrupted: keeping the" in err and "Traceback" not in err
    assert "interrupted after" in err  # the progress line says so too
    assert r.summary().loc["stopped", "value"] == "interrupted: a partial result"


def test_progress_shows_count_rate_and_eta(capsys):
    with EchoServer() as server:
        bench(server.url, b"x", n=50, concurrency=2, token=server.token, progress=True)
    err = capsys.readouterr().err
    assert "concurrency 2" in err and "50/50" in err and "req/s" in err


def test_more_concurrency_than_requests_starts_a_worker_per_request(monkeypatch):
    import threading

    started: list[str] = []

    class Counted(threading.Thread):
        def start(self) -> None:
            if self.name.startswith("easlab-bench-"):
                started.append(self.name)
            super().start()

    monkeypatch.setattr(threading, "Thread", Counted)
    with EchoServer() as server:
        r = bench(server.url, b"hi", n=3, concurrency=5000, token=server.token, progress=False)
    assert len(r.df) == 3 and r.ok == 3
    assert len(started) == 3  # not 5000 threads for 3 requests
    assert set(r.df["concurrency"]) == {5000}  # the level is still the one asked for


def test_a_bad_concurrency_is_said_as_given():
    with pytest.raises(ValueError, match=r"concurrency must be at least 1, got 0$"):
        bench("http://127.0.0.1:9/api/predict/x", b"", concurrency=0, progress=False)


def test_a_concurrency_past_the_cap_is_refused_before_a_thread_starts(monkeypatch):
    # concurrency=100000 with a duration started 100000 threads
    import threading

    from easlab.notebook import _target
    from easlab.notebook.loadtest import MAX_CONCURRENCY

    def no(*args, **kwargs):
        raise AssertionError("started something")

    monkeypatch.setattr(threading.Thread, "start", no)
    monkeypatch.setattr(_target, "resolve", no)  # not even the service is looked up
    url = "http://127.0.0.1:9/api/predict/x"
    with pytest.raises(ValueError) as info:
        bench(url, b"", concurrency=100000, duration="10s", progress=False)
    message = str(info.value)
    assert message.startswith("concurrency 100000 for 10 s would start 100000 threads")
    assert f"at most {MAX_CONCURRENCY}" in message and "thread switching" in message
    with pytest.raises(ValueError, match="concurrency 2000 for n=5000 requests"):
        bench(url, b"", n=5000, concurrency=2000, progress=False)
    with pytest.raises(ValueError, match=f"sweep level {MAX_CONCURRENCY + 1} for 1 s"):
        bench(url, b"", sweep=[1, MAX_CONCURRENCY + 1], duration=1, progress=False)


def test_a_wrong_token_stops_the_load_test_after_a_few_failures(capsys):
    from easlab.notebook.loadtest import STOP_AFTER

    with EchoServer() as server:
        r = bench(server.url, b"x", n=2000, concurrency=4, token="nope", progress=False)
        sent = server.calls
    # not 2000 identical 401s: it stops at STOP_AFTER, with those in flight then
    assert STOP_AFTER <= r.n <= STOP_AFTER + 4
    assert r.errors == {401: r.n} and sent == r.n  # every request sent is counted
    assert r.stopped == f"after {r.n} requests: none succeeded"
    assert r.summary().loc["stopped", "value"] == r.stopped
    err = capsys.readouterr().err
    assert f"bench stopped after {r.n} requests: none succeeded (HTTP 401: {r.n})" in err
    assert "the first error was HTTP 401: wrong token" in err


def test_a_kernel_that_is_not_running_stops_the_load_test():
    from easlab.notebook.loadtest import STOP_AFTER
    from tests.ports import free_port

    url = f"http://127.0.0.1:{free_port()}/api/predict/none"
    r = bench(url, b"x", n=5000, duration=None, concurrency=8, progress=False)
    assert STOP_AFTER <= r.n <= STOP_AFTER + 8 and r.errors == {0: r.n}
    assert r.stopped and "nothing listens there" in r.first_error
    # status 0 is no HTTP answer at all: not "HTTP 0"
    assert r.summary().loc["errors", "value"] == f"no answer: {r.n}"


def test_failures_after_a_success_or_load_shedding_do_not_stop_it():
    from easlab.notebook.loadtest import STOP_AFTER

    n = 3 * STOP_AFTER
    # a service that worked once and then fails is measured to the end
    with EchoServer(status_of=lambda i: 200 if i == 1 else 500) as server:
        r = bench(server.url, b"x", n=n, concurrency=1, token=server.token, progress=False)
    assert r.n == n and r.errors == {500: n - 1} and r.stopped is None
    # 450 (queue full) answers at once while other requests are served: a load result
    with EchoServer(status_of=lambda i: 450 if i <= 2 * STOP_AFTER else 200) as server:
        r = bench(server.url, b"x", n=n, concurrency=2, token=server.token, progress=False)
    assert r.n == n and r.errors == {450: 2 * STOP_AFTER} and r.ok == STOP_AFTER
    assert r.stopped is None


def _frame(total_ms: list[float], status: list[int], concurrency: int = 2) -> pd.DataFrame:
    n = len(total_ms)
    return pd.DataFrame(
        {
            "concurrency": concurrency,
            "worker": 0,
            "start_s": np.linspace(0, 1, n),
            "send_ms": 0.0,
            "server_ms": total_ms,
            "receive_ms": 0.0,
            "total_ms": total_ms,
            "status": status,
            "bytes": 1,
            "error": ["" if s == 200 else f"HTTP {s}: busy" for s in status],
        }
    )


def test_latencies_are_those_of_the_successes_as_the_plot_draws_them():
    from easlab.notebook.plots import plot_latency

    # ten answers of 10..19 ms, and ten refusals at 0.1 ms: p50 is the service's 14.5 ms,
    # not ~5 ms halfway between a refusal and an answer
    ok = [10.0 + i for i in range(10)]
    df = _frame(ok + [0.1] * 10, [200] * 10 + [503] * 10)
    r = BenchResult(df, {2: 1.0}, "http://h/api/predict/x")
    assert r.p50 == pytest.approx(np.percentile(ok, 50)) == pytest.approx(14.5)
    assert r.p99 == pytest.approx(np.percentile(ok, 99))
    assert (r.mean, r.max) == (pytest.approx(14.5), 19.0)
    assert r.errors == {503: 10} and r.throughput == 10.0
    drawn = {line.get_gid(): line.get_xdata()[0] for line in plot_latency(r, show=False)[0].lines}
    assert drawn["p50"] == pytest.approx(r.p50) and drawn["p99"] == pytest.approx(r.p99)
    summary = r.summary()
    assert summary.loc["p50 (ms)", "value"] == "14.50"
    assert (
        summary.loc["latencies of", "value"]
        == "the 10 HTTP 200 answers (10 failed requests left out)"
    )
    # one request: every percentile is its latency
    one = BenchResult(_frame([3.0], [200]), {2: 1.0})
    assert one.p50 == one.p90 == one.p99 == one.max == 3.0


def test_a_sweep_row_per_level_that_ran_with_the_latencies_of_its_successes():
    df = pd.concat([_frame([1.0, 2.0, 3.0, 0.1], [200, 200, 200, 500], 1), _frame([5.0], [200], 2)])
    # interrupted during level 2: level 4 never ran, and has no row saying 0 req/s
    r = BenchResult(df, {1: 2.0, 2: 1.0}, sweep=[1, 2, 4])
    sweep = r.sweep_df
    assert list(sweep["concurrency"]) == [1, 2]
    assert list(sweep["requests"]) == [4, 1] and list(sweep["errors"]) == [1, 0]
    assert list(sweep["throughput"]) == [1.5, 1.0]
    assert list(sweep["p50"]) == [2.0, 5.0] and list(sweep["max"]) == [3.0, 5.0]


def test_ctrl_c_while_the_workers_start_leaves_none_sending(monkeypatch):
    # Ctrl-C came while the threads started: the exception left bench, and the workers
    # already started went on sending for the whole duration, out of anyone's reach
    import threading

    real_start = threading.Thread.start
    started: list[threading.Thread] = []

    def start(self: threading.Thread) -> None:
        if self.name.startswith("easlab-bench-"):
            if len(started) == 3:
                raise KeyboardInterrupt
            started.append(self)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    with EchoServer() as server:
        r = bench(
            server.url, b"x", duration="60s", concurrency=8, token=server.token, progress=False
        )
        assert not any(th.is_alive() for th in started)  # nothing left sending
        assert r.interrupted and r.n == server.calls  # every request sent is counted
    assert set(r.df["worker"]) <= {0, 1, 2}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # each of these ran: a traceback from max(), eight worker tracebacks and
        # "<BenchResult 0 requests>", 23 "BlockingIOError" failures, a run of no request,
        # a TypeError from range(), or 2 workers for 2.5
        ({"sweep": []}, r"sweep \[\] has no concurrency level"),
        ({"sweep": ""}, r"sweep '' has no concurrency level"),
        ({"timeout": -1}, r"timeout -1: expected the seconds one request may take"),
        ({"timeout": 0}, r"timeout 0: expected the seconds"),
        ({"duration": float("nan")}, r"duration nan: must be positive and finite"),
        ({"duration": float("inf")}, r"duration inf: must be positive and finite"),
        ({"n": 2.5}, r"n must be a whole number, got 2.5"),
        ({"concurrency": 2.5}, r"concurrency must be a whole number, got 2.5"),
        ({"sweep": [1, 2.5]}, r"a sweep level must be a whole number, got 2.5"),
    ],
)
def test_arguments_that_cannot_run_are_refused_before_sending(kwargs, message):
    with EchoServer() as server:
        with pytest.raises(ValueError, match=message):
            bench(server.url, b"x", token=server.token, progress=False, **{"n": 30, **kwargs})
        assert server.received == []  # nothing was sent, not even the signature's GET
    # whole numbers in other types are fine
    from easlab.notebook.loadtest import check_load

    assert check_load(8.0, "4") == ([4], None)
