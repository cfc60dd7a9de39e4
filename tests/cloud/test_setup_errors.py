"""What the PAI-EAS target says when the account side is wrong: no credentials, a wrong
AccessKey or secret, no permission, throttling, a region that does not exist. Against the
tests' EAS and OSS STAND-INS (tests/cloud/*_standin.py), not Alibaba Cloud."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from eas_standin import ACCESS_KEY_ID, ACCESS_KEY_SECRET

from easlab.cli import main
from easlab.cloud.client import PaiClient
from easlab.cloud.errors import PaiError, PaiSetupError

ROOT = Path(__file__).resolve().parents[2]


def _easlab(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``python -m easlab ...`` in a fresh process with nothing in the credential chain
    (the SDK reads its environment variables when first imported); (status, stderr)."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ALIBABA_CLOUD_") and not k.startswith("EASLAB_")
    }
    base.update(
        HOME=str(tmp_path),
        EASLAB_HOME=str(tmp_path / "easlab"),
        PYTHONPATH=str(ROOT),
        ALIBABA_CLOUD_ECS_METADATA_DISABLED="true",  # no instance metadata service here
        ALIBABA_CLOUD_CLI_PROFILE_DISABLED="true",
        **(env or {}),
    )
    done = subprocess.run(
        [sys.executable, "-m", "easlab", *argv],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    return done.returncode, done.stderr


def test_no_credentials_says_how_to_set_them_and_sends_nothing(eas, oss, tmp_path):
    standin, host = eas
    pai = ["--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", host]
    code, err = _easlab(tmp_path, "ls", *pai)
    assert code == 1
    assert "no Alibaba Cloud credentials found, nothing was sent" in err
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in err and "credentials.ini" in err  # HOW_TO
    assert "NoAnswer" not in err and "no answer from" not in err
    assert standin.requests == []

    (tmp_path / "m.pmml").write_text("<PMML/>")
    (tmp_path / "d1.json").write_text(
        '{"name": "d1", "processor": "pmml", "model_path": "./m.pmml", "metadata": {"instance": 1}}'
    )
    code, err = _easlab(
        tmp_path,
        "create",
        "d1.json",
        *pai,
        "--oss",
        "oss://models/easlab",
        env={"EASLAB_OSS_ENDPOINT": oss[1]},
    )
    assert code == 1
    assert "no Alibaba Cloud credentials found, nothing was sent" in err, err
    assert "PutObject" not in err and "ALIBABA_CLOUD_ACCESS_KEY_ID" in err
    assert oss[0].heads == [] and oss[0].puts == [] and standin.requests == []


def test_the_sdk_credential_log_stays_quiet(tmp_path):
    """The SDK's ``credentials`` logger prints each failing link's traceback to stderr
    (dozens of lines on a laptop, where the ECS metadata link fails) before easlab's one
    line; after easlab builds the chain, its own stderr handlers are silent."""
    child = (
        "import logging\n"
        "from easlab.cloud.credentials import credential_client\n"
        "credential_client()\n"
        "try:\n"
        "    raise RuntimeError('Failed to get RAM session credentials from ECS metadata')\n"
        "except RuntimeError as exc:\n"
        "    logging.getLogger('credentials').exception(exc)\n"
        "    logging.getLogger('credentials').warning('Refresh credentials failed')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", child],
        env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stderr == ""


def test_a_wrong_access_key_id_names_the_source_and_what_to_check(eas, monkeypatch):
    from alibabacloud_credentials.utils import auth_util

    monkeypatch.setattr(auth_util, "environment_access_key_id", "LTAIwrongKeyId0000")
    pai = PaiClient("cn-hangzhou", endpoint=eas[1])
    with pytest.raises(PaiError) as info:
        pai.list()
    text = str(info.value)
    assert info.value.code == "InvalidAccessKeyId.NotFound"
    assert "knows no such AccessKey ID" in text and "RAM console" in text
    assert "from the environment (ALIBABA_CLOUD_ACCESS_KEY_ID" in text
    assert "LTAI****000" in text and "LTAIwrongKeyId0000" not in text
    assert ACCESS_KEY_SECRET not in text


def test_a_wrong_secret_says_the_secret_does_not_match(eas, monkeypatch):
    from alibabacloud_credentials.utils import auth_util

    monkeypatch.setattr(auth_util, "environment_access_key_secret", "wrong-secret-xyz")
    pai = PaiClient("cn-hangzhou", endpoint=eas[1])
    with pytest.raises(PaiError) as info:
        pai.list()
    text = str(info.value)
    assert info.value.code == "SignatureDoesNotMatch"
    assert "secret does not match its ID" in text and "the environment" in text
    assert "wrong-secret-xyz" not in text and ACCESS_KEY_SECRET not in text
    assert f"{ACCESS_KEY_ID[:4]}****" in text


@pytest.mark.parametrize(
    "refusal, expected",
    [
        ((403, "Forbidden.RAM", "User not authorized to operate"), "AliyunPAIEASFullAccess"),
        ((403, "NoPermission", "no permission"), "may not call ListServices"),
        ((400, "Throttling.User", "Request was denied due to user flow control."), "wait"),
        ((400, "QuotaExceeded", "the quota of cpu is exceeded"), "quota is used up"),
    ],
)
def test_refusals_get_a_hint(eas, refusal, expected):
    standin, host = eas
    standin.refuse = refusal
    with pytest.raises(PaiError) as info:
        PaiClient("cn-hangzhou", endpoint=host).list()
    assert info.value.code == refusal[1]
    assert refusal[2] in str(info.value)  # EAS's own words stay
    assert expected in str(info.value) and expected in info.value.hint


def test_a_region_that_does_not_resolve_says_which_regions_exist(test_credentials, monkeypatch):
    real = socket.getaddrinfo

    def no_dns(host, *args, **kwargs):  # this machine has no network; the answer is fixed
        if str(host).endswith(".aliyuncs.com"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(PaiError) as info:
        PaiClient("cn-hangzou").list()
    text = str(info.value)
    assert "pai-eas.cn-hangzou.aliyuncs.com does not resolve" in text
    assert "no such region 'cn-hangzou'?" in text and "--region" in text
    assert "cn-shanghai" in text and "did you mean cn-hangzhou?" in text
    assert "{'message'" not in text  # not the SDK's dict repr


def test_the_cli_shows_the_hint(eas, capsys):
    standin, host = eas
    standin.refuse = (403, "Forbidden.RAM", "User not authorized to operate")
    code = main(["ls", "--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", host])
    err = capsys.readouterr().err
    assert code == 1
    assert "Forbidden.RAM" in err and "AliyunPAIEASFullAccess" in err


def test_credentials_are_resolved_once(test_credentials, monkeypatch):
    """Resolving credentials happens once, before the first call, and only then."""
    from easlab.cloud import credentials

    calls = []
    real = credentials.resolve_source

    def counting(client):
        calls.append(1)
        return real(client)

    monkeypatch.setattr(credentials, "resolve_source", counting)
    pai = PaiClient("cn-hangzhou", endpoint="127.0.0.1:9")
    for _ in range(2):
        with pytest.raises(PaiError) as info:
            pai.list()
        assert not isinstance(info.value, PaiSetupError) and info.value.code == "NoAnswer"
    assert calls == [1]


def test_an_access_key_id_without_its_secret_says_which_variable_is_missing(eas, tmp_path):
    standin, host = eas
    pai = ["--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", host]
    code, err = _easlab(tmp_path, "ls", *pai, env={"ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY_ID})
    assert code == 1
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is not" in err, (
        err
    )
    assert standin.requests == []


def test_a_profile_name_no_file_has_is_named_with_the_profiles_there(eas, tmp_path):
    standin, host = eas
    folder = tmp_path / ".alibabacloud"
    folder.mkdir()
    (folder / "credentials.ini").write_text(
        "[default]\ntype = access_key\n"
        f"access_key_id = {ACCESS_KEY_ID}\naccess_key_secret = {ACCESS_KEY_SECRET}\n"
    )
    pai = ["--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", host]
    code, err = _easlab(tmp_path, "ls", *pai, env={"ALIBABA_CLOUD_PROFILE": "work"})
    assert code == 1
    assert "ALIBABA_CLOUD_PROFILE='work' names no profile" in err, err
    assert "profiles there: default" in err and ACCESS_KEY_SECRET not in err
    assert standin.requests == []
    code, err = _easlab(tmp_path, "ls", *pai, env={"ALIBABA_CLOUD_PROFILE": "default"})
    assert code == 0, err


def test_no_answer_says_no_http_status(test_credentials):
    """No HTTP exchange happened: no "(HTTP 0)" at the end, as KernelNotRunning."""
    with pytest.raises(PaiError) as info:
        PaiClient("cn-hangzhou", endpoint="127.0.0.1:9").list()
    assert info.value.status == 0 and "HTTP 0" not in str(info.value)
