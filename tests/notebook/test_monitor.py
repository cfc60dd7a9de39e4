"""``easlab.monitor`` / ``%eas monitor``: the kernel's numbers agree with a load test's own."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

import easlab
from easlab.notebook.monitor import Monitor, plot_monitor

CHECKER_APP = """\
import allspark


class Checker(allspark.BaseProcessor):
    def process(self, data):
        if data == b"bad":
            return b"bad body", 400
        return data, 200
"""


def _wait(condition, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def checker(session_shell, kernel, tmp_path_factory):
    # other modules' fixtures load and unload the extension on the one shared shell
    shell = session_shell
    shell.run_line_magic("load_ext", "easlab")
    shell.run_line_magic("config", f"EasMagic.target = {kernel.endpoint!r}")
    folder = tmp_path_factory.mktemp("checker_app")
    (folder / "app.py").write_text(CHECKER_APP)
    shell.user_ns["checker_dir"] = str(folder)
    shell.run_cell_magic(
        "eas",
        "create mon_svc",
        """
name: nb_monitor
token: monitor-token-123456
processor_type: python
processor_path: $checker_dir
processor_entry: app.py
metadata:
  instance: 1
""",
    )
    svc = shell.user_ns["mon_svc"]
    assert svc.status == "Running"
    return svc


def test_counts_agree_with_bench(shell, kernel, checker, tmp_path):
    shell.user_ns["good"] = b"hello"
    shell.user_ns["bad"] = b"bad"
    shell.run_line_magic("eas", "bench nb_monitor --body good -n 2000 -c 4 -o good_run")
    # every request of the bad body fails: the cell fails, and bad_run keeps what it measured
    assert shell.run_cell("%eas bench nb_monitor --body bad -n 150 -c 2 -o bad_run").error_in_exec
    with requests.Session() as s:
        for _ in range(25):
            r = s.post(checker.url, data=b"x", headers={"Authorization": "wrong"})
            assert r.status_code == 401
    good, bad = shell.user_ns["good_run"], shell.user_ns["bad_run"]
    # every call of the bad body fails alike: the bench stops early (STOP_AFTER), and the
    # monitor counts what it did send
    refused = bad.n
    assert good.ok == 2000 and bad.errors == {400: refused} and bad.stopped and refused < 150

    m = easlab.monitor("nb_monitor", window=900, kernel=kernel.client)
    data = m.snapshot()
    assert data["totals"]["by_status"] == {"200": 2000, "400": refused, "401": 25}
    df = m.to_dataframe(data)
    assert int(df["requests"].sum()) == 2025 + refused
    assert (int(df["2xx"].sum()), int(df["4xx"].sum()), int(df["401"].sum())) == (
        2000,
        refused + 25,
        25,
    )
    assert {"qps", "p50_ms", "p90_ms", "p99_ms", "queue", "batch_mean"} <= set(df.columns)
    w = data["windows"]["900s"]
    assert w["requests"] == 2025 + refused and w["p50_ms"] <= w["p90_ms"] <= w["p99_ms"]
    # the kernel's latency covers the bench's own server-side view: same order of magnitude
    assert w["p50_ms"] < 10 * max(good.df["total_ms"].median(), 1.0)

    plot = m.plot(data)
    assert len(plot) == 4
    out = Path(__file__).resolve().parents[2] / "build" / "monitor.png"
    out.parent.mkdir(exist_ok=True)
    plot.savefig(out, dpi=80)
    assert out.stat().st_size > 10_000


def test_live_monitor_redraws_and_stops_on_rerun_and_kernel_gone(shell, kernel, checker):
    shell.run_line_magic("eas", "monitor nb_monitor --window 30 --interval 0.1 -o live")
    first: Monitor = shell.user_ns["live"]
    assert first.running
    with requests.Session() as s:
        for _ in range(20):
            s.post(checker.url, data=b"x", headers={"Authorization": checker.token})
    _wait(lambda: first.frames >= 3, what="three redraws")
    # the same cell run again (here: the same service, no JupyterLab cell id) stops the first
    shell.run_line_magic("eas", "monitor nb_monitor --window 30 --interval 0.1 -o again")
    second: Monitor = shell.user_ns["again"]
    _wait(lambda: not first.running, what="the first monitor to stop")
    assert first.stopped_because == "the cell ran again" and second.running
    second.stop()
    assert not second.running

    # a kernel that goes away: the thread ends by itself, the last frame stays
    from easlab.client.control import KernelClient

    gone = Monitor("nb_monitor", KernelClient("http://127.0.0.1:9", admin_token="x"), 30, 0.05)
    gone.last = second.last
    gone.start()
    _wait(lambda: not gone.running, what="the monitor of a dead kernel to stop")
    assert "no easlab kernel answers" in (gone.stopped_because or "")


def test_duration_and_window_checks(shell, kernel, checker):
    m = easlab.monitor("nb_monitor", window=10, interval=0.05, duration=0.3, kernel=kernel.client)
    m.start()
    _wait(lambda: not m.running, what="the duration to end")
    assert m.stopped_because == "duration over"
    with pytest.raises(ValueError, match="window"):
        easlab.monitor("nb_monitor", window=0, kernel=kernel.client)
    p = plot_monitor(m.snapshot(), show=False, note="stopped")
    assert "stopped" in p.figure._suptitle.get_text()


def test_an_unknown_service_fails_the_call_not_the_display(kernel):
    # before: monitor() returned a Monitor and the 404 surfaced only as a display
    # traceback, which IPython prints but does not count as the cell failing
    from easlab.errors import KernelError

    with pytest.raises(KernelError, match="service 'no_such_svc' not found"):
        easlab.monitor("no_such_svc", kernel=kernel.client)


def test_a_kernel_that_breaks_off_its_answer_stops_the_live_monitor_with_a_message():
    # a kernel stopped while it answered a poll: the live thread died with a
    # ChunkedEncodingError traceback, the display kept no note saying why
    import socket
    import threading

    from easlab.client.control import KernelClient

    server = socket.create_server(("127.0.0.1", 0))
    broken = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(broken)

    threading.Thread(target=serve, daemon=True).start()
    try:
        kernel = KernelClient(f"http://127.0.0.1:{server.getsockname()[1]}", admin_token="t")
        m = Monitor("svc", kernel, interval=0.05)
        m.start(None)
        _wait(lambda: not m.running, what="the live thread to stop")
    finally:
        server.close()
    assert m.stopped_because is not None
    assert "broke off its answer to GET /services/svc/metrics" in m.stopped_because
    assert "easlab kernel status" in m.stopped_because


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # interval 0 or below redrew without a pause (a CPU busy, the kernel polled
        # as fast as it answered); window 2.5 was silently 2
        ({"interval": 0}, "interval must be seconds between redraws, at least 0.05, got 0"),
        ({"interval": -1}, "interval must be seconds between redraws"),
        ({"interval": float("nan")}, "interval must be seconds between redraws"),
        ({"duration": 0}, "duration must be a positive number of seconds, got 0"),
        ({"window": 2.5}, "window must be whole seconds from 1 to 900, got 2.5"),
    ],
)
def test_a_live_monitor_that_could_only_spin_is_refused(shell, kernel, checker, kwargs, message):
    with pytest.raises(ValueError, match=message):
        easlab.monitor("nb_monitor", kernel=kernel.client, **kwargs)
