"""``modify --target pai`` checks the partial service.json as the local kernel's modify does
(a near miss of a known key: did you mean ...?; a value it would refuse) before anything
reaches EAS (the tests' STAND-IN, tests/cloud/eas_standin.py)."""

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
    with pytest.raises(SpecError, match="names 'other'") as info:
        pai.modify("d2", spec={"name": "other", "metadata": {"instance": 2}})
    # the same words as the local kernel's (spec.renamed_in_modify)
    assert "drop name from the file, or modify the service it names" in str(info.value)
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


def test_a_bad_value_is_refused_before_sending(deployed, pai):
    """As the local kernel's modify: the deployed service.json with the change must be
    valid, so a value EAS would refuse (or take wrongly) never reaches it."""
    with pytest.raises(SpecError, match="must be a number, got 'many'") as info:
        pai.modify("d2", set={"metadata.instance": "many"})
    assert info.value.field == "metadata.instance"
    with pytest.raises(SpecError, match="must be ≥ 1, got 0") as info:
        pai.modify("d2", spec={"metadata": {"rpc.batching": True, "rpc.max_batch_size": 0}})
    assert info.value.field == "metadata.rpc.max_batch_size"
    assert _updates(deployed) == []
    assert json.loads(deployed.services["d2"]["ServiceConfig"]) == SPEC
    # a good change still goes, merged by EAS with what is deployed
    pai.modify("d2", set={"metadata.instance": 2})
    assert _updates(deployed)[-1].json() == {"metadata": {"instance": 2}}


def test_a_deployed_spec_easlab_cannot_read_leaves_the_change_to_eas(deployed, pai):
    """A value easlab does not read in what is deployed is not the change's fault: the
    change is sent as is, for EAS to judge."""
    config = json.loads(deployed.services["d2"]["ServiceConfig"])
    config["metadata"]["rpc.keepalive"] = "5s"  # easlab reads milliseconds only
    deployed.services["d2"]["ServiceConfig"] = json.dumps(config)
    pai.modify("d2", set={"metadata.memory": 4000})
    assert _updates(deployed)[-1].json() == {"metadata": {"memory": 4000}}


def test_the_cli_names_the_bad_value(deployed, eas, capsys):
    code = main(
        [
            "modify",
            "d2",
            "-Dmetadata.rpc.batching=maybe",
            "--target",
            "pai",
            "--region",
            "cn-hangzhou",
            "--pai-endpoint",
            eas[1],
        ]
    )
    assert code == 1
    assert "metadata.rpc.batching" in capsys.readouterr().err
    assert _updates(deployed) == []
