"""Pure parts of the cloud target: packing and keys, EAS → ServiceDesc mapping, portability."""

from __future__ import annotations

import os
import tarfile

import pytest

from easlab.cloud.mapping import service_desc, worker_row
from easlab.cloud.portability import check_portability
from easlab.cloud.upload import cleanup, parse_oss, plan_uploads


def _folder(tmp_path):
    folder = tmp_path / "proc"
    (folder / "lib").mkdir(parents=True)
    (folder / "app.py").write_text("print('hi')\n")
    (folder / "lib" / "w.bin").write_bytes(b"\1" * 100)
    return folder


def test_a_folder_packs_to_the_same_key_whatever_its_mtimes(tmp_path):
    folder = _folder(tmp_path)
    spec = {"name": "p", "processor_path": str(folder), "metadata": {"instance": 1}}
    oss = parse_oss("oss://bucket/pre/fix/")
    sent, [first] = plan_uploads(spec, oss, None, "oss-cn-x-internal.aliyuncs.com")
    assert sent["processor_path"] == first.uri
    assert first.key.startswith("pre/fix/") and first.key.endswith("/proc.tar.gz")
    assert sent["oss_endpoint"] == "oss-cn-x-internal.aliyuncs.com"
    with tarfile.open(first.source) as tar:
        assert sorted(tar.getnames()) == ["app.py", "lib", "lib/w.bin"]  # entry at the root
    os.utime(folder / "app.py", (1, 1))
    _, [again] = plan_uploads(spec, oss, None, "x")
    assert again.key == first.key  # same content, same key: skipped on upload
    (folder / "app.py").write_text("print('changed')\n")
    _, [changed] = plan_uploads(spec, oss, None, "x")
    assert changed.key != first.key
    cleanup([first, again, changed])
    assert not os.path.exists(first.source)


def test_relative_paths_resolve_against_the_spec_folder_and_files_go_as_they_are(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"onnx")
    spec = {"name": "m", "model_path": "m.onnx", "oss_endpoint": "given", "metadata": {}}
    sent, [up] = plan_uploads(spec, parse_oss("oss://bkt"), tmp_path, "x")
    assert up.source == str(tmp_path / "m.onnx") and up.key.endswith("/m.onnx")
    assert sent["oss_endpoint"] == "given"
    with pytest.raises(ValueError, match="does not exist"):
        plan_uploads({"model_path": "nope"}, parse_oss("oss://bkt"), tmp_path, "x")
    with pytest.raises(ValueError, match="oss://bucket"):
        parse_oss("s3://b/x")


def test_service_desc_maps_eas_fields_and_vpc_endpoint():
    eas = {
        "ServiceName": "mnist",
        "Status": "Failed",
        "Reason": "ProcessorError",
        "Message": "cannot load",
        "InternetEndpoint": "http://1.cn-x.pai-eas.aliyuncs.com/api/predict/mnist",
        "IntranetEndpoint": "http://1.cn-x.pai-eas-vpc.aliyuncs.com/api/predict/mnist",
        "AccessToken": "tok",
        "ServiceConfig": '{"processor": "pytorch_gpu_1.6", "metadata": {"instance": 1}}',
        "TotalInstance": 1,
        "Weight": 30,
        "Region": "cn-x",
    }
    desc = service_desc(eas)
    assert desc["endpoint"] == "http://1.cn-x.pai-eas.aliyuncs.com"
    assert desc["message"] == "ProcessorError: cannot load"
    assert desc["request_format"] == "torch" and desc["weight"] == 30 and desc["token"] == "tok"
    assert service_desc(eas, vpc=True)["endpoint"] == "http://1.cn-x.pai-eas-vpc.aliyuncs.com"
    row = worker_row(
        {
            "InstanceName": "i",
            "InnerIP": "10.0.0.9",
            "ReadyProcesses": 0,
            "TotalProcesses": 1,
            "RestartCount": 3,
            "Status": "Pending",
        }
    )
    assert row["ready"] == "0/1" and row["restarts"] == 3 and row["ip"] == "10.0.0.9"


def test_portability_blocks_and_notes():
    spec = {
        "name": "s",
        "processor": "aiges",
        "model_path": "./local",
        "metadata": {"instance": 1, "region": "cn-beijing", "resource": "eas-r-1"},
        "cloud": {"networking": {"vpc_id": "vpc-1"}},
    }
    report = check_portability(spec, oss_configured=False, region="cn-hangzhou")
    blocked = [f for f, _ in report.blocking]
    assert blocked == ["model_path", "processor", "metadata.region"]
    # cloud (and storage, containers ...) are said by the parse: parse_spec's warnings
    assert [f for f, _ in report.notes] == ["metadata.resource", "metadata.region"]
    packaged = check_portability(
        {**spec, "data_image": "registry/x:1", "model_path": "oss://b/m", "oss_endpoint": "e"},
        oss_configured=False,
    )
    assert [f for f, _ in packaged.blocking] == []


def test_seldon_env_is_said_to_be_easlabs_own_on_pai_eas():
    """A Seldon component packed as an image: its ``seldon.env`` (easlab's field) would not
    reach the image on EAS; the report says where the variables go there."""
    spec = {
        "name": "s",
        "processor": "seldon",
        "data_image": "registry/x:1",
        "seldon": {"env": {"PAYLOAD_PASSTHROUGH": "true"}},
    }
    report = check_portability(spec, oss_configured=False)
    assert report.blocking == []
    [(field, message)] = [w for w in report.warnings if w[0] == "seldon.env"]
    assert "containers[].env" in message
    del spec["seldon"]
    assert all(f != "seldon.env" for f, _ in check_portability(spec, oss_configured=False).warnings)
    aiges = {**spec, "processor": "aiges", "aiges": {"env": {"AIGES_PLUGIN_MODE": "python"}}}
    assert [
        f for f, _ in check_portability(aiges, oss_configured=False).warnings if "env" in f
    ] == ["aiges.env"]


def test_a_malformed_oss_says_what_was_meant():
    """``--oss my-bucket/easlab`` (no scheme) suggests the oss:// form; a bucket name OSS does
    not allow (upper case, _) is refused by name before anything is packed."""
    with pytest.raises(ValueError, match="did you mean oss://my-bucket/easlab"):
        parse_oss("my-bucket/easlab")
    with pytest.raises(ValueError, match="'My_Bucket' is not an OSS bucket name"):
        parse_oss("oss://My_Bucket/x")
    assert parse_oss("oss://my-bucket-1/a/b/").prefix == "a/b"
