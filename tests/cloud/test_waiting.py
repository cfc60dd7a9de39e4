"""A service EAS keeps Waiting (no resources, a quota): its message is shown, and
DescribeService is asked every few seconds, not five times a second. Against the tests'
EAS STAND-IN (tests/cloud/eas_standin.py) with a fake clock: no test waits for real."""

from __future__ import annotations

import json

import pytest

import easlab.client.control as control
import easlab.ops as ops
from easlab.cli import main
from easlab.cloud.client import POLL_INTERVAL, PaiClient
from easlab.errors import EaslabError

QUOTA = "Insufficient resources: quota of resource group exhausted (QuotaExceeded)"
SPEC = {
    "name": "q",
    "processor": "pmml",
    "model_path": "oss://models/m.pmml",
    "oss_endpoint": "oss-cn-hangzhou-internal.aliyuncs.com",
    "metadata": {"instance": 1},
}


class FakeClock:
    """``time`` for wait_settled: ``sleep`` moves ``monotonic`` on at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if len(self.sleeps) > 1000:  # 0.2 s for 30 min would be 9000 polls
            raise AssertionError("polled more than 1000 times")
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(control, "time", fake)
    monkeypatch.setattr(PaiClient, "poll_interval", POLL_INTERVAL)  # not conftest's fast one
    return fake


def _describes(standin) -> int:
    return standin.actions().count("DescribeService")


def test_pai_polls_every_few_seconds_with_backoff_and_says_why_it_waits(eas, pai, clock):
    standin, _ = eas
    standin.waiting_message = QUOTA
    seen: list[str] = []
    with pytest.raises(EaslabError) as info:
        ops.create(SPEC, kernel=pai, timeout=1800, progress=lambda d: seen.append(d["message"]))
    assert f"still Waiting ({QUOTA}) after 1800 s" in str(info.value)
    assert QUOTA in seen
    assert clock.sleeps[:4] == [1.0, 1.5, 2.25, 3.375] and max(clock.sleeps) == 10.0
    # 30 minutes: about 180 DescribeService calls at 10 s, not 9000 at 0.2 s
    assert _describes(standin) < 200


def test_a_service_that_comes_up_is_seen_after_the_first_polls(eas, pai, clock):
    standin, _ = eas
    svc = ops.create(SPEC, kernel=pai, timeout=60)
    assert svc.status == "Running"
    assert clock.sleeps == [1.0, 1.5][: len(clock.sleeps)] and _describes(standin) <= 3


def test_the_local_kernel_keeps_its_fast_poll(clock):
    class Local:  # a kernel with no poll_interval (the local KernelClient)
        answers = iter(["Creating", "Creating", "Running"])

        def describe(self, name):
            return {"name": name, "status": next(self.answers)}

    desc = control.wait_settled(Local(), {"name": "x", "status": "Creating"}, timeout=10)
    assert desc["status"] == "Running" and clock.sleeps == [0.2, 0.2, 0.2]


def test_the_cli_waiting_line_and_timeout_show_eas_message(eas, monkeypatch, capsys, tmp_path):
    standin, host = eas
    standin.waiting_message = QUOTA
    path = tmp_path / "q.json"
    path.write_text(json.dumps(SPEC))
    pai = ["--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", host]
    code = main(["create", str(path), *pai, "--timeout", "0.3"])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"[OK] Waiting [Total: 1, Pending: 1, Running: 0] {QUOTA}" in out
    assert f"still Waiting ({QUOTA})" in err
    assert out.count("[OK] Waiting") == 1  # the same line is not repeated


def test_a_service_describe_does_not_find_right_after_create_is_asked_again(
    eas, pai, clock, monkeypatch
):
    """EAS can answer DescribeService "not found" for a moment after CreateService
    made the service (the STAND-IN's hidden_after_create plays that): create asks
    again, backing off as its wait does. Was: that 404 was create's answer
    ("InvalidService.NotFound") for a service that was being made."""
    import easlab.cloud.client as cloud_client

    monkeypatch.setattr(cloud_client, "time", clock)
    standin, _ = eas
    standin.hidden_after_create = 3
    svc = ops.create(SPEC, kernel=pai, timeout=60)
    assert svc.status == "Running"
    assert clock.sleeps[:3] == [1.0, 1.5, 2.25]  # the three "not found", backed off
    assert standin.actions().count("CreateService") == 1  # never sent twice


def test_a_created_service_describe_never_finds_is_an_error_saying_so(eas, pai, clock, monkeypatch):
    import easlab.cloud.client as cloud_client
    from easlab.cloud.errors import PaiError

    monkeypatch.setattr(cloud_client, "time", clock)
    standin, _ = eas
    standin.hidden_after_create = None  # never listed
    with pytest.raises(PaiError) as info:
        ops.create(SPEC, kernel=pai, timeout=60)
    message = str(info.value)
    assert "CreateService accepted service q" in message, message
    assert "DescribeService did not find it in" in message and "over 60 s" in message
    assert "easlab desc q --target pai" in info.value.hint
    # bounded: backing off to every 10 s for 60 s, a dozen calls at most
    assert 3 < _describes(standin) - 1 <= 12  # less the name check before the create
    assert standin.actions().count("CreateService") == 1
