"""A kernel brings back its services and queue contents after a restart, even after SIGKILL.

Services come back with their versions, current version, token, blue-green
weights and status; queues with every acknowledged record exactly once; an
async service's consumer group with its cursor (records it had not answered are
fed again: at least once). ``--fresh`` starts empty.
"""

from __future__ import annotations

import random
import stat
import threading
import time

import pytest
import requests
from kernel_helpers import ECHO_APP, HeldModelServer, wait_for

import easlab
from easlab.wire.proto import queue_pb2

TOKEN = "rtok-" + "z" * 8
TOTAL = 10_000

PREFIX_APP = """
import allspark

class Prefix(allspark.BaseProcessor):
    def process(self, data):
        return b"%s:" + data, 200
"""


def _records(endpoint: str, name: str) -> list:
    resp = requests.get(
        f"{endpoint}/api/predict/{name}",
        params={"_index_": "0", "_length_": "100000", "_timeout_": "0s", "_auto_delete_": "false"},
        headers={"Authorization": TOKEN},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    frames = queue_pb2.DataFrameListProto()
    frames.ParseFromString(resp.content)
    return list(frames.index)


def _python(name: str, folder, **meta) -> dict:
    return {
        "name": name,
        "token": TOKEN,
        "processor_type": "python",
        "processor_path": str(folder),
        "processor_entry": "app.py",
        "metadata": {"instance": 1, **meta},
    }


def _ask(endpoint: str, name: str, body: bytes, token: str = TOKEN) -> requests.Response:
    return requests.post(
        f"{endpoint}/api/predict/{name}", data=body, headers={"Authorization": token}, timeout=60
    )


def test_sigkill_mid_puts_then_restart(easlab_home, make_app, tmp_path):
    from easlab.client.local import LocalKernel

    state = tmp_path / "state"
    blue = make_app("restart_blue", PREFIX_APP % "blue")
    blue2 = make_app("restart_blue2", PREFIX_APP % "blue2")
    green = make_app("restart_green", PREFIX_APP % "green")
    # the kill comes after a random number of acknowledged puts (seed in failure messages)
    seed = random.randrange(1 << 30)
    kill_after = random.Random(seed).randrange(200, TOTAL - 200)
    acked: dict[str, int] = {}  # request id -> index
    with LocalKernel(port=0, state_dir=state) as first:
        client = first.client
        client._call(
            "POST",
            "/services",
            {"spec": {"name": "rq", "token": TOKEN, "metadata": {"type": "Queue"}}},
        )
        first.create(_python("restart_echo", blue))
        # a second version, then a blue-green sibling with 30% of the entry's traffic
        client.modify("restart_echo", spec={"processor_path": str(blue2)})
        sibling = first.create(_python("restart_echo", green), blue_green=True).name
        client.release(sibling, 30)
        first.create(_python("restart_stopped", blue))
        client.stop("restart_stopped")
        before = {d["name"]: d for d in client.list()}
        assert before["restart_echo"]["current_version"] == 2

        url = f"{first.endpoint}/api/predict/rq"
        reached = threading.Event()

        def put_all() -> None:
            session = requests.Session()
            for i in range(TOTAL):
                rid = f"rec-{i}"
                try:
                    resp = session.post(
                        url,
                        params={"requestId": rid},
                        data=b"rec %d" % i,
                        headers={"Authorization": TOKEN},
                        timeout=30,
                    )
                except requests.RequestException:
                    return  # the kernel is gone
                if resp.status_code == 200:
                    acked[rid] = int(resp.text)
                    if len(acked) >= kill_after:
                        reached.set()

        writer = threading.Thread(target=put_all, daemon=True)
        writer.start()
        wait_for(reached.is_set, 600, f"{kill_after} acknowledged puts (seed {seed})")
        assert first.process is not None
        first.process.kill()  # SIGKILL: no clean shutdown
        first.process.wait()
        writer.join(30)
        assert not writer.is_alive()
    # secrets stay private
    services = state / "services"
    assert stat.S_IMODE(services.stat().st_mode) == 0o700
    for file in services.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "queues").stat().st_mode) & 0o077 == 0

    with LocalKernel(port=0, state_dir=state) as second:
        client = second.client
        # every acknowledged record is there exactly once
        got = _records(second.endpoint, "rq")
        by_id: dict[str, list[int]] = {}
        for frame in got:
            by_id.setdefault(frame.tags["requestId"], []).append(frame.index)
        assert all(len(v) == 1 for v in by_id.values()), f"duplicates (seed {seed})"
        missing = {rid for rid in acked if by_id.get(rid) != [acked[rid]]}
        assert not missing, f"{len(missing)} acknowledged records lost (seed {seed})"
        # the client puts the rest again with the same request ids: no duplicates
        session = requests.Session()
        for i in range(TOTAL):
            rid = f"rec-{i}"
            if rid in acked:
                continue
            resp = session.post(
                f"{second.endpoint}/api/predict/rq",
                params={"requestId": rid},
                data=b"rec %d" % i,
                headers={"Authorization": TOKEN},
                timeout=30,
            )
            assert resp.status_code == 200, resp.text
        final = _records(second.endpoint, "rq")
        assert sorted(f.tags["requestId"] for f in final) == sorted(
            f"rec-{i}" for i in range(TOTAL)
        )
        assert {f.data for f in final} == {b"rec %d" % i for i in range(TOTAL)}
        assert client.describe("rq")["queues"]["rq"]["length"] == TOTAL

        def running() -> bool:
            now = {d["name"]: d["status"] for d in client.list()}
            return now.get("restart_echo") == "Running" and now.get(sibling) == "Running"

        wait_for(running, 180, "the restored services running")
        after = {d["name"]: d for d in client.list()}
        assert set(after) == set(before)
        assert after["rq"]["type"] == "Queue"
        assert after["restart_stopped"]["status"] == "Stopped"
        echo = client.describe("restart_echo")
        assert (echo["latest_version"], echo["current_version"]) == (2, 2)
        assert echo["traffic"] == {"restart_echo": 70, sibling: 30}
        assert client.describe(sibling)["weight"] == 30
        assert client.describe(sibling)["released_into"] == "restart_echo"
        # the same token, the same weights: 7 answers in 10 from version 2, 3 from green
        answers = [_ask(second.endpoint, "restart_echo", b"x") for _ in range(10)]
        assert all(a.status_code == 200 for a in answers)
        bodies = sorted(a.content for a in answers)
        assert bodies == sorted([b"blue2:x"] * 7 + [b"green:x"] * 3)
        assert _ask(second.endpoint, "restart_echo", b"x", token="wrong").status_code == 401
        # the older version is still there to switch to
        client.version("restart_echo", 1)
        wait_for(lambda: client.describe("restart_echo")["status"] == "Running", 120, "version 1")
        # a stopped service starts again with its token
        client.start("restart_stopped")
        wait_for(
            lambda: client.describe("restart_stopped")["status"] == "Running", 120, "the start"
        )
        assert _ask(second.endpoint, "restart_stopped", b"y").content == b"blue:y"

    # and that state survives a clean stop too; --fresh forgets all of it
    with LocalKernel(port=0, state_dir=state) as third:
        expected = {"rq", "restart_echo", sibling, "restart_stopped"}
        # services come back in the background, right after the kernel listens
        wait_for(
            lambda: expected <= {d["name"] for d in third.client.list()}, 60, "the services back"
        )
        wait_for(lambda: third.client.describe("restart_echo")["current_version"] == 1, 60, "v1")
    with LocalKernel(port=0, state_dir=state, fresh=True) as empty:
        assert empty.client.list() == []
        assert (
            requests.post(
                f"{empty.endpoint}/api/predict/rq", data=b"x", headers={"Authorization": TOKEN}
            ).status_code
            == 404
        )
    assert not list((state / "queues").glob("rq.sqlite*"))


def test_async_service_carries_on_after_sigkill(easlab_home, make_app, tmp_path):
    """Inputs the service had not answered before the kill are fed again after the restart."""
    from easlab.client.local import LocalKernel

    state = tmp_path / "state"
    folder = make_app("restart_async", ECHO_APP)
    spec = _python("restart_async", folder, type="Async")
    n = 300
    with LocalKernel(port=0, state_dir=state) as first:
        first.create(spec)
        session = requests.Session()
        ids = set()
        for i in range(n):
            resp = session.post(
                f"{first.endpoint}/api/predict/restart_async",
                params={"requestId": f"job-{i}"},
                data=b"job %d" % i,
                headers={"Authorization": TOKEN},
                timeout=30,
            )
            assert resp.status_code == 200
            ids.add(f"job-{i}")

        def some_answered() -> bool:
            return len(_records(first.endpoint, "restart_async/sink")) >= 10

        wait_for(some_answered, 120, "some answers before the kill")
        assert first.process is not None
        first.process.kill()
        first.process.wait()
    with LocalKernel(port=0, state_dir=state) as second:

        def all_answered() -> set:
            got = _records(second.endpoint, "restart_async/sink")
            return {f.tags["requestId"] for f in got} >= ids and got  # type: ignore[return-value]

        sink = wait_for(all_answered, 180, "every input answered in the sink")
        answers = {f.tags["requestId"]: f.data for f in sink}
        assert all(answers[f"job-{i}"] == b"job %d" % i for i in range(n))
        # at least once: an input answered just before the kill may be answered twice,
        # never more than the inputs that were at the service then
        assert len(sink) - n <= 64

        # the last answer in may be one given before the kill, for an input fed again
        # (at least once): the inputs are all consumed a moment later
        def inputs_consumed() -> bool:
            # every answer may be in the sink before the restart has rebuilt the service
            # (the sink is reopened first): its description has its queues once it has
            queues = second.client.describe("restart_async").get("queues")
            return queues is not None and queues["restart_async"]["length"] == 0

        wait_for(inputs_consumed, 60, "every input consumed")


# its instances start only once the gate file exists; each call is written down
GATED_APP = """
import os
import time

import allspark

class Gated(allspark.BaseProcessor):
    def initialize(self):
        while not os.path.exists({gate!r}):
            time.sleep(0.05)

    def process(self, data):
        with open({calls!r}, "a") as f:
            f.write(data.decode() + "\\n")
        return b"answer:" + data, 200
"""


def test_an_answer_consumed_after_a_kill_before_its_commit_is_not_given_twice(
    easlab_home, make_app, tmp_path, monkeypatch
):
    """Before: a kernel killed after an answer was on disk in the sink, but before its
    input was committed, fed that input again once restarted: a client that had read
    the answer meanwhile got a second one (the model ran again). Now the sink remembers
    the answer was consumed, and the input is committed without running the model."""
    from easlab.client.local import LocalKernel
    from easlab.kernel.async_inference import KILL_AFTER_ANSWER_ENV

    state = tmp_path / "state"
    gate, calls = tmp_path / "gate", tmp_path / "calls"
    gate.touch()
    folder = make_app("restart_once", GATED_APP.format(gate=str(gate), calls=str(calls)))
    spec = _python("restart_once", folder, type="Async")
    monkeypatch.setenv(KILL_AFTER_ANSWER_ENV, "1")
    with LocalKernel(port=0, state_dir=state) as first:
        first.create(spec)
        assert _ask(first.endpoint, "restart_once", b"job-1").status_code == 200
        assert first.process is not None
        assert first.process.wait(timeout=60) == -9  # killed itself after storing the answer
    monkeypatch.delenv(KILL_AFTER_ANSWER_ENV)
    gate.unlink()  # the service does not serve until the client has read its answer
    with LocalKernel(port=0, state_dir=state) as second:
        answers = _records(second.endpoint, "restart_once/sink")
        assert [f.data for f in answers] == [b"answer:job-1"]
        resp = requests.get(
            f"{second.endpoint}/api/predict/restart_once/sink",
            params={"_index_": "0", "_length_": "1", "_timeout_": "0s"},
            headers={"Authorization": TOKEN},
            timeout=30,
        )
        assert resp.status_code == 200  # read and deleted, as QueueClient.get does
        gate.touch()

        def inputs_consumed() -> bool:
            queues = second.client.describe("restart_once")["queues"]
            return queues["restart_once"]["length"] == 0

        wait_for(inputs_consumed, 120, "the input consumed")
        assert _records(second.endpoint, "restart_once/sink") == []  # no second answer
        assert calls.read_text().split() == ["job-1"]  # the model ran once
        log = "\n".join(easlab.logs("restart_once", 200, kernel=second.client))
        assert "was answered before the kernel stopped; not fed again" in log


WATCH_SNIPPET = """
import json, logging, sys
from eas_prediction import QueueClient
logging.disable(logging.CRITICAL)  # its reconnect warnings
q = QueueClient(sys.argv[1], "rw")
q.set_token(sys.argv[2])
q.init(uid="w1", gid="g")
for df in q.watch(0, 2).run():
    print(json.dumps([int(df.index), df.data.decode()]), flush=True)
    if df.data.startswith(b"commit"):
        q.commit(df.index)
"""


def test_an_official_watcher_carries_on_after_the_kernel_restarts(
    easlab_home, tmp_path, official_python
):
    """The official Watcher reconnects forever to the same URL with the same uid: a
    kernel killed and started again on the same port and state takes it back in its
    group, delivers again what it held uncommitted (at least once) and then what comes."""
    import json
    import os
    import subprocess

    from ports import free_port

    from easlab.client.local import LocalKernel

    state, port = tmp_path / "state", free_port()
    spec = {"name": "rw", "token": TOKEN, "metadata": {"type": "Queue"}}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    lines: list = []
    first = LocalKernel(port=port, state_dir=state)
    first.start()
    try:
        first.client._call("POST", "/services", {"spec": spec})
        for data in (b"held 1", b"held 2", b"commit 3"):
            assert _ask(first.endpoint, "rw", data).status_code == 200
        watcher = subprocess.Popen(
            [str(official_python), "-c", WATCH_SNIPPET, first.endpoint, TOKEN],
            stdout=subprocess.PIPE,
            env=env,
            cwd="/",
        )
        reader = threading.Thread(
            target=lambda: lines.extend(json.loads(line) for line in watcher.stdout),
            daemon=True,
        )
        reader.start()
        try:
            wait_for(lambda: len(lines) == 2, 30, "the window of 2 records")
            assert [data for _, data in lines] == ["held 1", "held 2"]
            assert first.process is not None
            first.process.kill()  # SIGKILL: the watcher's socket drops, it reconnects
            first.process.wait()
            with LocalKernel(port=port, state_dir=state) as second:
                wait_for(lambda: len(lines) >= 4, 60, "the held records again")
                assert sorted(data for _, data in lines[2:4]) == ["held 1", "held 2"]
                attrs = requests.get(
                    f"{second.endpoint}/api/predict/rw",
                    params={"_attrs_": "true"},
                    headers={"Authorization": TOKEN},
                    timeout=30,
                ).json()
                assert attrs["consumers.stats.total"] == "1"
                assert attrs["consumers.list.[0]"].startswith("Id: g.w1, ")
                # its window is full until it commits: the records held twice now go
                requests.put(
                    f"{second.endpoint}/api/predict/rw",
                    params={"_indexes_": ",".join(str(i) for i, _ in lines[2:4])},
                    headers={"Authorization": TOKEN, "X-EAS-QueueService-Redis-Gid": "g"},
                    timeout=30,
                ).raise_for_status()
                assert _ask(second.endpoint, "rw", b"commit 4").status_code == 200
                wait_for(lambda: len(lines) >= 6, 60, "the records after them")
                assert [data for _, data in lines[4:6]] == ["commit 3", "commit 4"]
        finally:
            watcher.kill()
            watcher.wait()
    finally:
        first.stop()


def test_create_of_the_same_description_after_a_restart_finds_the_service(
    easlab_home, make_app, tmp_path, monkeypatch
):
    """A notebook run again from the top after its kernel restarted (``%%eas create``
    passes exist_ok): the create met a service the kernel was still rebuilding from
    its record (here its model's download is held), whose description it could not
    compare yet, and was refused (409, "restoring it"). It now waits for the rebuild
    and finds the same service; the CLI's create (exist_ok off) still refuses, as
    eascmd does."""
    from easlab import ops
    from easlab.client.local import LocalKernel
    from easlab.errors import KernelError

    state = tmp_path / "state"
    with HeldModelServer(held=False) as model:
        spec = {
            **_python("restart_same", make_app("restart_same", ECHO_APP)),
            "model_path": model.url,
        }
        with LocalKernel(port=0, state_dir=state) as first:
            first.create(spec)
        model.hold.set()
        with LocalKernel(port=0, state_dir=state) as second:
            wait_for(model.asked.is_set, 60, "the restore building the service")
            waits = []
            pause = time.sleep

            def wait_then_let_it_go(seconds: float) -> None:
                waits.append(seconds)  # the create met the service still being rebuilt
                model.go.set()
                pause(seconds)

            monkeypatch.setattr(ops.time, "sleep", wait_then_let_it_go)
            found = easlab.create(spec, exist_ok=True, kernel=second.client)
            monkeypatch.undo()
            assert waits and found.existed and found.status == "Running"
            assert _ask(second.endpoint, "restart_same", b"hi").text == "hi"
            with pytest.raises(KernelError, match="already exists") as err:
                easlab.create(spec, kernel=second.client)
            assert err.value.status == 409
