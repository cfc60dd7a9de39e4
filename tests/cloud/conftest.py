"""Fixtures of the cloud target: the EAS and OSS stand-ins on loopback, and test credentials.

The SDK's credential chain reads its environment variables when
``alibabacloud_credentials`` is first imported; the fixture sets both the
variables (for subprocesses) and the module's copies (for this process).
"""

from __future__ import annotations

import pytest

pytest.importorskip("alibabacloud_eas20210701")

import eas_standin  # noqa: E402
import oss_standin  # noqa: E402


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    """The stand-in settles in a few polls: ask it every 10-50 ms, not PaiClient's 1-10 s
    (tests/cloud/test_waiting.py checks those with a fake clock), and retry a read at once."""
    from easlab.cloud.client import PaiClient

    monkeypatch.setattr(PaiClient, "poll_interval", (0.01, 1.5, 0.05))
    monkeypatch.setattr(PaiClient, "retry_delays", (0.0, 0.0, 0.0))


@pytest.fixture
def test_credentials(monkeypatch, tmp_path):
    """The stand-in's AccessKey in the environment, nothing else in the chain."""
    from alibabacloud_credentials.utils import auth_util

    values = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": eas_standin.ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": eas_standin.ACCESS_KEY_SECRET,
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
        "HOME": str(tmp_path),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)
    monkeypatch.setattr(auth_util, "environment_access_key_id", eas_standin.ACCESS_KEY_ID)
    monkeypatch.setattr(auth_util, "environment_access_key_secret", eas_standin.ACCESS_KEY_SECRET)
    monkeypatch.setattr(auth_util, "environment_security_token", None)
    monkeypatch.setattr(auth_util, "environment_ecs_metadata_disabled", "true")
    monkeypatch.setattr(auth_util, "environment_cli_profile_disabled", "true")
    for key in ("EASLAB_PAI_ENDPOINT", "EASLAB_OSS", "EASLAB_OSS_ENDPOINT", "EASLAB_PAI_REGION"):
        monkeypatch.delenv(key, raising=False)
    return values


@pytest.fixture
def eas(test_credentials):
    """(StandIn, "127.0.0.1:port"): a fresh EAS stand-in per test."""
    standin = eas_standin.StandIn()
    server, host = eas_standin.serve(standin)
    yield standin, host
    server.shutdown()
    server.server_close()


@pytest.fixture
def oss():
    """(OssStandIn, "127.0.0.1:port")."""
    standin = oss_standin.OssStandIn()
    server, host = oss_standin.serve(standin)
    yield standin, host
    server.shutdown()
    server.server_close()


@pytest.fixture
def pai(eas, oss):
    """A PaiClient on the EAS stand-in, uploading to the OSS stand-in (oss://models/easlab)."""
    from easlab.cloud.client import PaiClient

    standin, host = eas
    client = PaiClient(
        standin.region, endpoint=host, oss="oss://models/easlab", oss_endpoint=oss[1]
    )
    client.timeout = 10
    return client
