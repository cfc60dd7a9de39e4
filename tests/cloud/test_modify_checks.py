"""``modify --target pai`` checks the partial service.json as the local kernel's modify does
(a near miss of a known key: did you mean ...?) before anything reaches EAS (the tests'
STAND-IN, tests/cloud/eas_standin.py)."""

from __future__ import annotations

import json

import pytest

import easlab.ops as ops
from easlab.cli import main
from easlab.errors import SpecError

SPEC = {
    "name": "d2",
    "processor": "pmml",
    "model_path": "oss://models/m.pmml",
    "oss_endpoint": "oss-cn-hangzhou-internal.aliyuncs.com",
    "metadata": {"instance": 1},
}


@pytest.fixture
def deployed(eas, pai):
    ops.create(SPEC, kernel=pai, timeout=10)
    return eas[0]


def _updates(standin):
    return [r for r in standin.requests if r.action == "UpdateService"]


def test_a_mistyped_override_is_refused_before_sending(deployed, pai):
    with pytest.raises(SpecError, match="did you mean 'metadata.instance'") as info:
        pai.modify("d2", set={"metadata.instanse": 3})
    assert info.value.field == "metadata.instanse"
    assert _updates(deployed) == []


def test_a_mistyped_partial_spec_is_refused_before_sending(deployed, pai, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"metdata": {"instance": 2}, "procesor": "pmml"}))
    with pytest.raises(SpecError, match="did you mean 'metadata'"):
        pai.modify("d2", spec=str(path))
    with pytest.raises(SpecError, match="did you mean 'metadata.instance'"):
        pai.modify("d2", spec={"metadata": {"instnace": 2}})
    with pytest.raises(SpecError, match="names 'other'"):
        pai.modify("d2", spec={"name": "other", "metadata": {"instance": 2}})
    assert _updates(deployed) == []
    assert json.loads(deployed.services["d2"]["ServiceConfig"]) == SPEC


def test_allow_unknown_keys_sends_them_as_written(deployed, pai):
    pai.modify("d2", set={"metadata.instanse": 3}, allow_unknown_keys=True)
    assert _updates(deployed)[-1].json() == {"metadata": {"instanse": 3}}


def test_the_cli_says_did_you_mean(deployed, eas, capsys):
    code = main(
        [
            "modify",
            "d2",
            "-Dmetadata.instanse=3",
            "--target",
            "pai",
            "--region",
            "cn-hangzhou",
            "--pai-endpoint",
            eas[1],
        ]
    )
    assert code == 1
    assert "did you mean 'metadata.instance'" in capsys.readouterr().err
    assert _updates(deployed) == []
