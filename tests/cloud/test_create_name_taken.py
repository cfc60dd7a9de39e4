"""``create`` on PAI-EAS asks whether the name is taken (``DescribeService``) before it packs
or uploads anything: EAS refuses ``CreateService`` only once the model, maybe gigabytes,
is on OSS. Against the tests' EAS and OSS STAND-INS (tests/cloud/*_standin.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from easlab.cli import main
from easlab.cloud.errors import PaiError, hint_for

ON_OSS = {
    "name": "echo",
    "processor": "pmml",
    "model_path": "oss://models/echo.pmml",
    "oss_endpoint": "oss-cn-hangzhou-internal.aliyuncs.com",
    "metadata": {"instance": 1},
}


def _local_model(tmp_path: Path) -> Path:
    """service.json naming ``echo`` with a local model folder (packed, then uploaded)."""
    folder = tmp_path / "echo"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\1" * 4096)
    path = tmp_path / "service.json"
    spec = {k: v for k, v in ON_OSS.items() if k != "oss_endpoint"}
    path.write_text(json.dumps({**spec, "model_path": "./echo"}))
    return path


def test_a_taken_name_is_refused_before_anything_is_packed_or_uploaded(
    eas, oss, pai, tmp_path, monkeypatch
):
    from easlab.cloud import upload

    standin, _ = eas
    pai.create(ON_OSS, timeout=10)  # echo exists now (its model already on OSS)
    before = len(standin.requests)
    packed: list[str] = []
    real = upload.plan_uploads
    monkeypatch.setattr(
        upload, "plan_uploads", lambda *a, **k: packed.append("packed") or real(*a, **k)
    )
    with pytest.raises(PaiError) as info:
        pai.create(_local_model(tmp_path), timeout=10)
    assert packed == [] and oss[0].requests == [] and oss[0].puts == []
    assert standin.actions()[before:] == ["DescribeService"]  # no CreateService
    error = info.value
    assert error.code == "ServiceAlreadyExists" and error.action == "CreateService"
    assert "Service echo already exists in cn-hangzhou" in str(error)
    # the hint EAS's own refusal of CreateService gets: what to do instead
    assert error.hint == hint_for("ServiceAlreadyExists", action="CreateService")
    assert "easlab modify" in str(error) and "create -r" in str(error)
    assert error.request_id  # DescribeService's, for a support ticket


def test_the_cli_refuses_a_taken_name_without_uploading(eas, oss, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    standin, host = eas
    pai = ["--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", host]
    pai += ["--oss", "oss://models/easlab"]
    first = tmp_path / "first.json"
    first.write_text(json.dumps(ON_OSS))
    assert main(["create", str(first), *pai, "--timeout", "10"]) == 0
    capsys.readouterr()
    code = main(["create", str(_local_model(tmp_path)), *pai, "--timeout", "10"])
    err = capsys.readouterr().err
    assert code == 1
    assert "already exists" in err and "easlab modify" in err, err
    assert "Uploading" not in err and oss[0].requests == []
    assert standin.actions().count("CreateService") == 1


def test_a_free_name_is_created_after_a_not_found(eas, oss, pai, tmp_path):
    standin, _ = eas
    svc = pai.create(_local_model(tmp_path), timeout=10)
    assert svc.status == "Running" and len(oss[0].puts) == 1
    assert standin.actions()[:2] == ["DescribeService", "CreateService"]
    assert standin.requests[0].status == 404


def test_a_blue_green_sibling_of_a_taken_name_is_created(eas, pai):
    """``create -r`` names a new sibling after the taken one: nothing to check."""
    pai.create(ON_OSS, timeout=10)
    sibling = pai.create(ON_OSS, blue_green=True, timeout=10)
    assert sibling.name.startswith("echo_") and sibling.status == "Running"


def test_other_refusals_of_the_check_stop_the_create(eas, oss, pai, tmp_path):
    standin, _ = eas
    standin.refuse = (403, "Forbidden.RAM", "User not authorized to operate")
    with pytest.raises(PaiError) as info:
        pai.create(_local_model(tmp_path), timeout=10)
    assert info.value.code == "Forbidden.RAM" and info.value.action == "DescribeService"
    assert oss[0].requests == []
