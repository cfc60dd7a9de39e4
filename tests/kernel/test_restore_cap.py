"""A restarted kernel keeps to its instance cap, and a deleted service's log goes with it.

A kernel restarted with a lower ``EASLAB_MAX_INSTANCES`` (or on a smaller machine)
started every recorded service and so ran past the cap that a create would have
refused. Now the services that fit start, in record order; each other one stays
Stopped and its description says why and what to do, and its record still says
running, so a kernel with room starts it.

A recorded service the restart cannot bring back (its model folder was deleted
meanwhile) vanished from ``ls`` with a line in kernel.log only; now it is listed as
Failed, saying why, until it is created again or deleted.

A deleted service's ``NAME.log`` stayed in the state dir, and a new service of the
same name appended to it: its log file showed the old service's lines.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kernel_helpers import ECHO_APP, app_spec, post, wait_for

import easlab
from easlab.client.local import LocalKernel

TOKEN = "restore-cap-token"


def _spec(name: str, folder, instance: int) -> dict:
    return {**app_spec(name, folder, instance=instance), "token": TOKEN}


def _statuses(kernel: LocalKernel) -> dict[str, str]:
    return {d["name"]: d["status"] for d in kernel.client.list()}


def _settled(kernel: LocalKernel) -> bool:
    now = _statuses(kernel)
    return set(now) == {"rc_a", "rc_b"} and all(s in ("Running", "Stopped") for s in now.values())


def test_a_restarted_kernel_starts_only_what_fits_its_cap(easlab_home, make_app, tmp_path):
    app = make_app("rc_echo", ECHO_APP)
    state = tmp_path / "state"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EASLAB_MAX_INSTANCES", "4")
        with LocalKernel(port=0, state_dir=state) as first:
            first.create(_spec("rc_a", app, 2))
            first.create(_spec("rc_b", app, 2))
        mp.setenv("EASLAB_MAX_INSTANCES", "3")
        with LocalKernel(port=0, state_dir=state) as capped:
            wait_for(lambda: _settled(capped), 120, "the restored services settled")
            # the older record starts first
            assert _statuses(capped) == {"rc_a": "Running", "rc_b": "Stopped"}
            stopped, running = "rc_b", "rc_a"
            message = capped.client.describe(stopped)["message"]
            assert "not started after the kernel restarted" in message
            assert "cap of 3 (2 already started)" in message
            assert "EASLAB_MAX_INSTANCES" in message
            assert any(message in line for line in capped.client.logs(stopped, 0))
            url = capped.client.describe(running)["url"]
            assert post(url, b"fits", TOKEN).content == b"fits"
        mp.setenv("EASLAB_MAX_INSTANCES", "4")
        with LocalKernel(port=0, state_dir=state) as roomy:
            # the record still said running: with room, both start again
            wait_for(
                lambda: _statuses(roomy) == {"rc_a": "Running", "rc_b": "Running"},
                120,
                "both restored services running",
            )


def test_a_deleted_services_log_file_goes_with_it(kernel, make_app):
    app = make_app("rc_log", ECHO_APP)
    kernel.create(_spec("rc_log", app, 1))
    log = kernel.state_dir / "logs" / "rc_log.log"
    assert "service running" in log.read_text()
    log.with_name("rc_log.log.1").write_text("an older, rotated part\n")
    easlab.delete("rc_log", kernel=kernel.client)
    assert not log.exists() and not log.with_name("rc_log.log.1").exists()
    # a new service of that name writes a log of its own
    kernel.create(_spec("rc_log", app, 1))
    try:
        assert log.read_text().count("service running") == 1
    finally:
        easlab.delete("rc_log", kernel=kernel.client)


def test_a_line_logged_after_the_delete_stays_out_of_the_file(tmp_path):
    """An instance's last output can arrive after the delete removed the log: it must not
    make the file again, for the next service of that name to find."""
    from service_standin import run, service

    from easlab.kernel.control import Kernel

    def test(loop):
        svc = service(Kernel(tmp_path, loop), tmp_path, "rc_late")
        svc.log("kernel", "service running")
        assert svc.log_path.read_text().count("service running") == 1
        svc.remove_log()
        svc.log("rc_late-0", "a last line, after the delete")
        assert not svc.log_path.exists()
        # and no descriptor is left open on the deleted file (its space would stay taken)
        fds = Path("/proc/self/fd")
        assert not [fd for fd in fds.iterdir() if "rc_late.log" in os.path.realpath(fd)]
        assert "a last line, after the delete" in svc.lines[-1]  # still in memory

    run(test)


def test_a_service_the_restart_cannot_bring_back_is_listed_as_failed(
    easlab_home, make_app, tmp_path
):
    import shutil

    import requests

    from easlab.errors import EaslabError

    app = tmp_path / "app"
    shutil.copytree(make_app("rc_gone", ECHO_APP), app)
    state = tmp_path / "state"
    with LocalKernel(port=0, state_dir=state) as first:
        first.create(_spec("rc_gone", app, 1))
        first.create(_spec("rc_kept", make_app("rc_kept", ECHO_APP), 1))
    shutil.rmtree(app)  # the folder the record names is gone
    with LocalKernel(port=0, state_dir=state) as second:
        client = second.client
        wait_for(
            lambda: _statuses(second) == {"rc_gone": "Failed", "rc_kept": "Running"},
            120,
            "the restore done",
        )
        message = client.describe("rc_gone")["message"]
        assert message.startswith("service 'rc_gone' was not restored when the kernel restarted")
        assert "processor_path" in message and str(app) in message
        assert "delete rc_gone" in message
        with pytest.raises(EaslabError, match="was not restored") as refused:
            client.start("rc_gone")
        assert refused.value.status == 409
        answer = requests.post(
            f"{second.endpoint}/api/predict/rc_gone", data=b"x", headers={"Authorization": TOKEN}
        )
        assert answer.status_code == 404 and "was not restored" in answer.text
        # the data plane answers without a token: the reason (the owner's paths) stays out
        assert str(app) not in answer.text and "`desc rc_gone` says why" in answer.text
        # created again (the folder back): it serves, and is no longer listed as failed
        shutil.copytree(make_app("rc_gone2", ECHO_APP), app)
        assert second.create(_spec("rc_gone", app, 1)).status == "Running"
        assert _statuses(second)["rc_gone"] == "Running"
        shutil.rmtree(app)
    with LocalKernel(port=0, state_dir=state) as third:
        wait_for(lambda: _statuses(third).get("rc_gone") == "Failed", 120, "the restore done")
        assert third.client.delete("rc_gone") == {"deleted": "rc_gone"}
        assert "rc_gone" not in _statuses(third)
    with LocalKernel(port=0, state_dir=state) as fourth:  # the delete took its record
        wait_for(lambda: "rc_kept" in _statuses(fourth), 60, "the restore done")
        assert "rc_gone" not in _statuses(fourth)


def test_a_queue_service_the_restart_cannot_open_is_listed_as_failed(easlab_home, tmp_path):
    import shutil

    state = tmp_path / "state"
    spec = {"name": "rc_q", "token": TOKEN, "metadata": {"type": "Queue"}}
    with LocalKernel(port=0, state_dir=state) as first:
        first.client._call("POST", "/services", {"spec": spec})
    file = state / "queues" / "rc_q.sqlite"
    assert file.is_file()
    for extra in state.glob("queues/rc_q.sqlite*"):
        extra.unlink()
    file.mkdir()  # a queue file SQLite cannot open
    with LocalKernel(port=0, state_dir=state) as second:
        wait_for(lambda: _statuses(second).get("rc_q") == "Failed", 60, "the restore done")
        assert (
            "was not restored when the kernel restarted"
            in (second.client.describe("rc_q")["message"])
        )
        assert second.client.delete("rc_q") == {"deleted": "rc_q"}
        assert "rc_q" not in _statuses(second)
    shutil.rmtree(file)
    with LocalKernel(port=0, state_dir=state) as third:  # the delete took its record
        assert third.client.list() == []
