"""The standard credential chain's order, in a fresh process each time (the SDK reads its
environment variables when it is first imported), with a temporary HOME and credentials file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import json
from easlab.cloud.credentials import credential_client, credential_source
from easlab.cloud.errors import PaiSetupError
try:
    client = credential_client()
    source = credential_source(client)
    print(json.dumps({"source": source, "id": client.get_credential().access_key_id}))
except PaiSetupError as exc:
    print(json.dumps({"error": str(exc)}))
"""
FILE_SECRET = "file-secret-never-printed"
ENV_SECRET = "env-secret-never-printed"


def _run(tmp_path: Path, env: dict[str, str]) -> dict:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ALIBABA_CLOUD_") and not k.startswith("EASLAB_")
    }
    base.update(
        HOME=str(tmp_path),
        PYTHONPATH=str(ROOT),
        ALIBABA_CLOUD_ECS_METADATA_DISABLED="true",  # no instance metadata service here
        ALIBABA_CLOUD_CLI_PROFILE_DISABLED="true",
    )
    base.update(env)
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=base, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert FILE_SECRET not in done.stdout + done.stderr
    assert ENV_SECRET not in done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _write_profile(home: Path) -> Path:
    folder = home / ".alibabacloud"
    folder.mkdir(exist_ok=True)
    path = folder / "credentials.ini"
    path.write_text(
        "[default]\ntype = access_key\n"
        f"access_key_id = LTAIfromfile\naccess_key_secret = {FILE_SECRET}\n"
    )
    return path


ENV = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIfromenv", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ENV_SECRET}


def test_environment_variables_come_before_the_credentials_file(tmp_path):
    _write_profile(tmp_path)
    answer = _run(tmp_path, ENV)
    assert answer["id"] == "LTAIfromenv" and "env" in answer["source"].lower()


def test_the_credentials_file_in_home_when_no_environment(tmp_path):
    _write_profile(tmp_path)
    answer = _run(tmp_path, {})
    assert answer["id"] == "LTAIfromfile" and "profile" in answer["source"].lower()


def test_a_credentials_file_named_by_the_environment(tmp_path):
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    path = _write_profile(elsewhere)
    answer = _run(tmp_path, {"ALIBABA_CLOUD_CREDENTIALS_FILE": str(path)})
    assert answer["id"] == "LTAIfromfile"


def test_nothing_configured_says_how(tmp_path):
    answer = _run(tmp_path, {})
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in answer["error"]
    assert "credentials.ini" in answer["error"]


@pytest.mark.usefixtures("test_credentials")
def test_the_cli_never_prints_the_secret(eas, capsys):
    from eas_standin import ACCESS_KEY_SECRET

    from easlab.cli import main

    assert main(["ls", "--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", eas[1]]) == 0
    assert (
        main(["desc", "x", "--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", eas[1]])
        == 1
    )
    out, err = capsys.readouterr()
    assert ACCESS_KEY_SECRET not in out + err
    assert "InvalidService.NotFound" in err


def test_a_malformed_credentials_file_never_has_its_lines_shown(tmp_path):
    """The SDK reads credentials.ini with configparser, whose parse error quotes the line
    that did not parse: here the secret's own line (its '=' forgotten)."""
    import configparser

    from easlab.cloud.credentials import no_credentials

    path = tmp_path / "c.ini"
    path.write_text(f"[default]\ntype = access_key\naccess_key_secret {FILE_SECRET}\n")
    with pytest.raises(configparser.Error) as info:
        configparser.ConfigParser().read(path)
    assert FILE_SECRET in str(info.value)  # configparser's own words hold it
    text = str(no_credentials(info.value))
    assert FILE_SECRET not in text
    assert "[line 3] of the file (not shown" in text and str(path) in text
    # and through the whole chain, in a fresh process
    answer = _run(tmp_path, {"ALIBABA_CLOUD_CREDENTIALS_FILE": str(path)})
    assert "error" in answer  # _run checks that FILE_SECRET is nowhere in its output
