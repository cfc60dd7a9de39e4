"""A service.json's secrets (a registry's dockerAuth, a mount's password, an env entry's
DB_PASSWORD or HF_TOKEN) are shown as **** in every output of the PAI-EAS target: the
table and ``--json`` of ``desc``, ``ls``, ``create``, and the dry run (against the EAS
stand-in: Alibaba Cloud cannot be reached from here). The service's own token stays in
``desc``, as eascmd's ``desc`` shows it."""

from __future__ import annotations

import json

import pytest

from easlab.cli import main
from easlab.spec import masked

DOCKER_AUTH = "dXNlcjpzZWNyZXQtcmVnaXN0cnktcGFzc3dvcmQ="
SECRETS = (DOCKER_AUTH, "env-db-password", "hf_secret_token_value", "oss-ak-secret", "mountpw")

SERVICE = {
    "name": "img",
    "metadata": {"instance": 1},
    "cloud": {"computing": {"instance_type": "ecs.c6.large"}},
    "containers": [
        {
            "image": "registry.example.com/me/app:1",
            "port": 8000,
            "env": [
                {"name": "MODE", "value": "prod"},
                {"name": "DB_PASSWORD", "value": "env-db-password"},
                {"name": "HF_TOKEN", "value": "hf_secret_token_value"},
                {"name": "OSS_ACCESS_KEY_SECRET", "value": "oss-ak-secret"},
                {"name": "MAX_TOKENS", "value": "512"},
            ],
        }
    ],
    "dockerAuth": DOCKER_AUTH,
    "storage": [
        {"mount_path": "/mnt/x", "nfs": {"server": "1.2.3.4", "path": "/"}, "password": "mountpw"}
    ],
}


@pytest.fixture
def run(eas, oss, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    common = ["--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", eas[1]]
    path = tmp_path / "service.json"
    path.write_text(json.dumps(SERVICE))

    def run(verb: str, *argv: str) -> tuple[int, str]:
        code = main([verb, *common, *(str(path) if a == "FILE" else a for a in argv)])
        out, err = capsys.readouterr()
        return code, out + err

    return run


def _no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


def test_desc_json_masks_the_secrets_of_the_service_json(run, eas):
    code, out = run("create", "FILE", "--timeout", "10", "--json")
    assert code == 0, out
    _no_secret(out)
    code, out = run("desc", "img", "--json")
    assert code == 0, out
    _no_secret(out)
    desc = json.loads(out)
    assert desc["token"] == eas[0].services["img"]["AccessToken"]  # the token, as eascmd
    assert desc["spec"]["dockerAuth"] == "****"
    assert desc["spec"]["storage"][0]["password"] == "****"
    env = {e["name"]: e["value"] for e in desc["spec"]["containers"][0]["env"]}
    assert env == {
        "MODE": "prod",
        "DB_PASSWORD": "****",
        "HF_TOKEN": "****",
        "OSS_ACCESS_KEY_SECRET": "****",
        "MAX_TOKENS": "512",
    }
    code, out = run("ls", "--json")
    assert code == 0 and '"img"' in out
    _no_secret(out)


def test_desc_and_dry_run_tables_mask_the_env_secrets(run):
    code, out = run("create", "FILE", "--dry-run")
    assert code == 0, out
    _no_secret(out)
    assert '"value": "prod"' in out
    assert run("create", "FILE", "--timeout", "10")[0] == 0
    code, out = run("desc", "img")
    assert code == 0 and '"dockerAuth": "****"' in out
    _no_secret(out)


def test_env_given_as_an_object_is_masked_by_name():
    shown = masked({"env": {"DB_PASSWORD": "x1", "api_key": "x2", "MODE": "prod"}})
    assert shown == {"env": {"DB_PASSWORD": "****", "api_key": "****", "MODE": "prod"}}


def test_a_desc_json_pasted_back_is_refused_naming_each_masked_secret(run, eas, tmp_path):
    """desc --json shows ****: a file made from it would send **** to EAS as the
    registry's login and the mount's password (an instance fails to start, minutes on)."""
    assert run("create", "FILE", "--timeout", "10")[0] == 0
    code, out = run("desc", "img", "--json")
    copied = {**json.loads(out)["spec"], "name": "img2"}
    path = tmp_path / "copied.json"
    path.write_text(json.dumps(copied))
    before = len(eas[0].requests)
    code, said = run("create", str(path), "--dry-run")
    assert code == 1
    for field in (
        "dockerAuth",
        "containers[0].env[1].value",
        "containers[0].env[2].value",
        "containers[0].env[3].value",
        "storage[0].password",
    ):
        assert f"error: {field}: is ****, the mask easlab prints" in said, field
    assert "containers[0].env[0]" not in said  # MODE=prod is no secret
    code, said = run("create", str(path))
    assert code == 1 and "env[1].value: not deployable on PAI-EAS: is ****" in said, said
    assert "(and 4 more: see --dry-run)" in said
    assert len(eas[0].requests) == before  # nothing sent


def test_modify_setting_a_secret_to_the_mask_is_refused(run, eas):
    assert run("create", "FILE", "--timeout", "10")[0] == 0
    before = len(eas[0].requests)
    code, said = run("modify", "img", "-DdockerAuth=****")
    assert code == 1 and "error: dockerAuth: is ****, the mask easlab prints" in said, said
    assert "UpdateService" not in [r.action for r in eas[0].requests[before:]]
