"""Service records a restarted kernel cannot use, and what a delete leaves behind.

A record edited by hand into a bad field (``"created": "yesterday"``) kept the
kernel from starting at all (a ValueError sorting the records); one cut short,
unreadable or not an object vanished from ``ls`` with no word anywhere; and a
record from a newer easlab would have been read by this one's rules. Now the
kernel starts, serves the others, lists each such service as Failed with its
file, the field at fault and how to fix it, and never changes the file: a create
of that name keeps it as ``NAME.json.bad``, a delete removes it.

A delete removed the record only once the instances had stopped (up to 30 s
with calls in flight): a kernel killed meanwhile brought the deleted service
back. And deleting the entry of a blue-green pair sent its traffic to the
sibling only until the next restart, when the entry's name answered 404.

A release weight or a version number that was not a whole number was truncated:
``"weight": 30.5`` sent 30 %, ``true`` 1 %, and ``"version": 1.9`` switched to
version 1. Now they are refused (400 naming the field), in the client as well.
"""

from __future__ import annotations

import json
import os
import threading

import pytest
import requests
from kernel_helpers import ECHO_APP, HeldModelServer, app_spec, post, wait_for

from easlab.client.local import LocalKernel
from easlab.errors import KernelError, SpecError

TOKEN = "state-records-" + "s" * 12

TAG_APP = """
import allspark

class Tag(allspark.BaseProcessor):
    def process(self, data):
        return b"%s:" + data, 200
"""

#: writes the file it names when a call reaches it, then takes an hour to answer
STUCK_APP = """
import pathlib
import time
import allspark

class Stuck(allspark.BaseProcessor):
    def process(self, data):
        pathlib.Path(%r).write_text("in")
        time.sleep(3600)
        return b"", 200
"""


def _spec(name: str, folder, **meta) -> dict:
    return {**app_spec(name, folder, **meta), "token": TOKEN}


def _listed(kernel: LocalKernel) -> dict[str, dict]:
    return {d["name"]: d for d in kernel.client.list()}


def _wait_running(kernel: LocalKernel, name: str, what: str) -> None:
    wait_for(lambda: _listed(kernel).get(name, {}).get("status") == "Running", 120, what)


def test_bad_records_are_listed_kept_and_never_stop_the_kernel(easlab_home, make_app, tmp_path):
    state = tmp_path / "state"
    folder = make_app("sr_echo", ECHO_APP)
    with LocalKernel(port=0, state_dir=state) as first:
        first.create(_spec("sr_good", folder))
    services = state / "services"
    good = json.loads((services / "sr_good.json").read_text())

    def record(name: str, **fields) -> dict:
        data = json.loads(json.dumps(good))
        data["spec"]["name"] = name
        data["versions"] = {"1": {**data["versions"]["1"], "name": name}}
        data["running"] = False
        data.update(fields)
        return data

    def write(name: str, data: dict) -> None:
        (services / f"{name}.json").write_text(json.dumps(data, indent=2))

    text = json.dumps(record("sr_cut"), indent=2)
    (services / "sr_cut.json").write_text(text[: len(text) // 2])  # a file cut short
    write("sr_created", record("sr_created", created="yesterday"))
    write("sr_weight", record("sr_weight", weight="lots"))
    write("sr_token", record("sr_token", token=12345))
    write("sr_versions", record("sr_versions", versions={"first": {"token": TOKEN}}))
    write("sr_newer", record("sr_newer", format=99, spec={**good["spec"], "name": "sr_newer"}))
    write("sr_current", record("sr_current", current=3))  # restored, it served version 1
    (services / "sr_dir.json").mkdir()  # a file the kernel cannot read
    before = {f.name: f.read_bytes() for f in services.iterdir() if f.is_file()}

    expected = {
        "sr_cut": "is not valid JSON",
        "sr_created": "field 'created' is 'yesterday', expected a number",
        "sr_weight": "field 'weight' is 'lots', expected a whole number 0-100",
        "sr_token": "field 'token' is int, expected a string",
        "sr_versions": "field 'versions' is dict, expected an object of version number",
        "sr_newer": "written by a newer easlab (record format 99",
        "sr_current": "field 'current' is 3, but 'versions' holds 1: set 'current'",
        "sr_dir": "cannot read its record",
    }
    with LocalKernel(port=0, state_dir=state) as second:
        _wait_running(second, "sr_good", "the good service running")
        listed = _listed(second)
        for name, why in expected.items():
            assert listed[name]["status"] == "Failed", name
            message = second.client.describe(name)["message"]
            assert why in message, message
            assert str(services / f"{name}.json") in message
            assert f"`delete {name}`" in message
            assert TOKEN not in message
        assert post(listed["sr_good"]["url"], b"ok", TOKEN).content == b"ok"
        # the files stay as they were: they are the user's only copy
        assert {f.name: f.read_bytes() for f in services.iterdir() if f.is_file()} == before
        log = second.log_path.read_text()
        assert "could not restore 'sr_weight'" in log
        assert TOKEN not in log
        # a create of that name keeps the old file aside; a delete removes it
        second.create(_spec("sr_cut", folder))
        assert (services / "sr_cut.json.bad").read_bytes() == before["sr_cut.json"]
        second.client.delete("sr_weight")
        assert not (services / "sr_weight.json").exists()
        # a folder in a record's place is set aside, not deleted (it was a 500)
        second.client.delete("sr_dir")
        assert (services / "sr_dir.json.bad").is_dir() and not (services / "sr_dir.json").exists()
        assert "sr_dir" not in _listed(second)
    with LocalKernel(port=0, state_dir=state) as third:
        _wait_running(third, "sr_cut", "the service created again running")
        listed = _listed(third)
        assert "sr_weight" not in listed and "sr_dir" not in listed
        assert listed["sr_created"]["status"] == "Failed"


def test_a_service_deleted_before_a_kill_stays_deleted(easlab_home, make_app, tmp_path):
    state = tmp_path / "state"
    marker = tmp_path / "in_process"
    folder = make_app("sr_stuck", STUCK_APP % str(marker))
    with LocalKernel(port=0, state_dir=state) as first:
        # a call in flight keeps the delete waiting for the instance (up to 30 s)
        svc = first.create(_spec("sr_gone", folder, rpc__keepalive=600_000))
        first.create(_spec("sr_stays", folder))
        threading.Thread(target=_quietly, args=(svc.url, b"stuck"), daemon=True).start()
        wait_for(marker.exists, 60, "the call in flight")
        deleting = threading.Thread(target=_quietly_delete, args=(first,), daemon=True)
        deleting.start()
        wait_for(lambda: "sr_gone" not in _listed(first), 60, "the delete under way")
        assert deleting.is_alive()  # its instance still lets the call finish
        assert first.process is not None
        first.process.kill()  # before the delete answers
        first.process.wait()
    with LocalKernel(port=0, state_dir=state) as second:
        _wait_running(second, "sr_stays", "the other service back")
        assert "sr_gone" not in _listed(second)
        assert not (state / "services" / "sr_gone.json").exists()


def _quietly(url: str, body: bytes) -> None:
    try:
        post(url, body, TOKEN, timeout=120)
    except requests.RequestException:
        pass  # the kernel was killed under it


def _quietly_delete(kernel: LocalKernel) -> None:
    try:
        kernel.client.delete("sr_gone")
    except Exception:  # the kernel was killed under it
        pass


def test_the_entry_of_a_pair_serves_its_survivor_after_a_restart(easlab_home, make_app, tmp_path):
    state = tmp_path / "state"
    blue = make_app("sr_blue", TAG_APP % "blue")
    green = make_app("sr_green", TAG_APP % "green")
    with LocalKernel(port=0, state_dir=state) as first:
        entry = first.create(_spec("sr_pair", blue))
        sibling = first.create(_spec("sr_pair", green), blue_green=True).name
        first.client.release(sibling, 30)
        first.client.delete("sr_pair")
        # all of the entry's traffic goes to the sibling
        assert post(entry.url, b"x", TOKEN).content == b"green:x"
    with LocalKernel(port=0, state_dir=state) as second:
        _wait_running(second, sibling, "the sibling back")
        url = f"{second.endpoint}/api/predict/sr_pair"
        assert post(url, b"x", TOKEN).content == b"green:x"
        assert post(url, b"x", "wrong-token").status_code == 401
        # a new service of the entry's name takes its name back, then and after a restart
        second.create(_spec("sr_pair", blue))
        assert post(url, b"y", TOKEN).content == b"blue:y"
    with LocalKernel(port=0, state_dir=state) as third:
        _wait_running(third, "sr_pair", "the new service back")
        assert post(f"{third.endpoint}/api/predict/sr_pair", b"z", TOKEN).content == b"blue:z"


@pytest.mark.parametrize(
    ("name", "weight"),
    [("sr_wfrac", 30.5), ("sr_wbool", True), ("sr_wword", "lots"), ("sr_wnone", None)],
)
def test_a_release_weight_must_be_a_whole_percentage(kernel, make_app, name, weight):
    kernel.create(_spec(name, make_app(name, TAG_APP % "one")))
    sibling = kernel.create(_spec(name, make_app(name + "g", TAG_APP % "two")), blue_green=True)
    kernel.client.release(sibling.name, 20)
    body = {} if weight is None else {"weight": weight}
    with pytest.raises(SpecError) as err:
        kernel.client._call("POST", f"/services/{sibling.name}/release", body)
    assert err.value.field == "weight"
    assert "whole percentage" in str(err.value)
    # nothing changed: still 80 / 20
    assert kernel.client.describe(name)["traffic"] == {name: 80, sibling.name: 20}
    if not isinstance(weight, (str, type(None))):
        with pytest.raises(ValueError, match="whole percentage"):
            kernel.client.release(sibling.name, weight)
    kernel.client.delete(sibling.name)
    kernel.client.delete(name)


def test_a_version_must_be_a_whole_number(kernel, make_app):
    kernel.create(_spec("sr_ver", make_app("sr_ver1", TAG_APP % "one")))
    kernel.client.modify(
        "sr_ver", spec={"processor_path": str(make_app("sr_ver2", TAG_APP % "two"))}
    )
    assert kernel.client.describe("sr_ver")["current_version"] == 2
    for version in (1.5, True, "first"):
        with pytest.raises(SpecError) as err:
            kernel.client._call("POST", "/services/sr_ver/version", {"version": version})
        assert err.value.field == "version"
        assert kernel.client.describe("sr_ver")["current_version"] == 2
    with pytest.raises(ValueError, match="whole number"):
        kernel.client.version("sr_ver", 1.5)  # type: ignore[arg-type]
    kernel.client.delete("sr_ver")


def test_a_service_being_restored_is_not_missing_and_not_replaced(easlab_home, make_app, tmp_path):
    """While a restarted kernel still builds a recorded service (here: its model's
    download hangs), a modify answered 404 "not found" and a create of that name
    replaced the record being restored: its versions and token were gone."""
    state = tmp_path / "state"
    first_app = make_app("sr_rest1", TAG_APP % "one")
    with HeldModelServer(held=False) as model:
        with LocalKernel(port=0, state_dir=state) as first:
            first.create({**_spec("sr_rest", first_app), "model_path": model.url})
            first.client.modify(
                "sr_rest", spec={"processor_path": str(make_app("sr_rest2", TAG_APP % "two"))}
            )
            first.create(_spec("sr_rest_stopped", first_app))  # restored after sr_rest
            first.client.stop("sr_rest_stopped")
        model.hold.set()
        with LocalKernel(port=0, state_dir=state) as second:
            wait_for(model.asked.is_set, 60, "the restore building the service")
            client = second.client
            with pytest.raises(KernelError) as err:
                client.modify("sr_rest", set={"metadata.instance": "2"})
            assert err.value.status == 503
            assert "being restored" in str(err.value)
            with pytest.raises(KernelError, match="restoring it") as err:
                second.create(_spec("sr_rest", first_app))
            assert err.value.status == 409
            restoring = client.describe("sr_rest")
            # what its record says, as a restored service's description has it
            assert (restoring["status"], restoring["current_version"]) == ("Creating", 2)
            # one recorded as stopped is Stopped while it waits its turn (it was Creating)
            assert client.describe("sr_rest_stopped")["status"] == "Stopped"
            url = f"{second.endpoint}/api/predict/sr_rest"
            waiting = post(url, b"x", TOKEN)
            # a 503 that passes by waiting: the client is told when to retry
            assert waiting.status_code == 503 and waiting.headers.get("Retry-After") == "1"
            model.go.set()
            wait_for(lambda: client.describe("sr_rest")["status"] == "Running", 120, "the restore")
            # the recorded service, with both its versions, not a new one
            assert client.describe("sr_rest")["current_version"] == 2
            assert post(url, b"x", TOKEN).content == b"two:x"


def test_a_create_s_first_write_holds_what_a_restore_needs_of_a_sibling(tmp_path):
    """A create writes its record, then (in the same step of the event loop) the fields
    ``_record`` adds. A kernel killed between the two must not restore a blue-green
    sibling as a plain service, nor read its relative paths from the wrong folder:
    the first write already holds ``base_dir`` and ``blue_green_of``."""
    from easlab.kernel.state import ServiceRecords

    records = ServiceRecords(tmp_path)
    spec = {"name": "sr_green", "processor_path": "./app", "metadata": {"instance": 1}}
    records.save("sr_green", spec, "t0ken", base_dir="/work/proj", blue_green_of="sr_blue")
    (loaded,) = records.load()
    assert (loaded["base_dir"], loaded["blue_green_of"]) == ("/work/proj", "sr_blue")
    assert loaded["spec"]["token"] == "t0ken"


def test_a_killed_kernel_s_temporary_record_copies_are_removed_at_the_next_load(tmp_path):
    """A kernel killed in the middle of an atomic write left ``.NAME.json.PID.tmp``
    (a copy of the record, its token in it) in the services folder for ever: load
    skipped it and nothing removed it. Now the next load removes a dead process's;
    a live one's (a write under way) and everything else stay."""
    import subprocess
    import sys

    from easlab.kernel.state import ServiceRecords

    records = ServiceRecords(tmp_path)
    records.save("sr_tmp", {"name": "sr_tmp", "processor_path": "./app"}, "t0ken")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = records.folder / f".sr_tmp.json.{gone.stdout.strip()}.tmp"
    live = records.folder / f".sr_tmp.json.{os.getpid()}.tmp"
    other = records.folder / "notes.tmp"
    for file in (dead, live, other):
        file.write_text('{"spec": {"token": "t0ken"}}')
    (loaded,) = records.load()
    assert loaded["spec"]["name"] == "sr_tmp"
    assert not dead.exists()
    assert live.exists() and other.exists()


def test_versions_tokens_weights_and_stopped_come_back_after_a_restart(
    easlab_home, make_app, tmp_path
):
    state = tmp_path / "state"
    one, two = make_app("rs_one", TAG_APP % "one"), make_app("rs_two", TAG_APP % "two")
    green = make_app("rs_green", TAG_APP % "green")
    new_token = "rs-new-token-" + "q" * 10

    def shown(kernel: LocalKernel) -> dict[str, tuple]:
        keys = ("status", "current_version", "latest_version", "weight", "traffic")
        return {n: (*(d[k] for k in keys), d["total_instance"]) for n, d in _listed(kernel).items()}

    with LocalKernel(port=0, state_dir=state) as first:
        first.create(_spec("rs_ver", one))
        first.client.modify("rs_ver", spec={"processor_path": str(two)})
        first.client.version("rs_ver", 1)
        first.client.modify("rs_ver", set={"metadata.instance": "2", "token": new_token})
        first.create(_spec("rs_stop", one))
        first.client.stop("rs_stop")
        first.create(_spec("rs_pair", one))
        sibling = first.create(_spec("rs_pair", green), blue_green=True).name
        first.client.release(sibling, 30)
        before = shown(first)
    assert before["rs_ver"] == ("Running", 1, 2, 100, None, 2)
    assert before["rs_stop"][0] == "Stopped"
    assert before["rs_pair"][4] == {"rs_pair": 70, sibling: 30}
    with LocalKernel(port=0, state_dir=state) as second:
        wait_for(
            lambda: (
                {d["status"] for d in _listed(second).values()} <= {"Running", "Stopped"}
                and len(_listed(second)) == 4
            ),
            120,
            "the four services back",
        )
        assert shown(second) == before
        ver = f"{second.endpoint}/api/predict/rs_ver"
        assert post(ver, b"x", new_token).content == b"one:x"
        assert post(ver, b"x", TOKEN).status_code == 401
        assert len(second.client.workers("rs_ver")) == 2
        # smooth weighted round robin: 30 % is exactly 3 answers in 10
        url = f"{second.endpoint}/api/predict/rs_pair"
        answers = [post(url, b"x", TOKEN).content for _ in range(10)]
        assert answers.count(b"green:x") == 3 and answers.count(b"one:x") == 7
