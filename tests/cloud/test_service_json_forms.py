"""The forms real service.json files take (Alibaba Cloud's "Deploy services with JSON" and
"Mount storage" pages, and what its pai-python-sdk writes), against the EAS stand-in (a
stand-in: Alibaba Cloud cannot be reached from here) and the local kernel.

Each must reach PAI-EAS exactly as written, be noted (or refused) by the local kernel and
the dry run alike, and a near miss of one of its fields must be named.
"""

from __future__ import annotations

import copy
import json

import pytest

import easlab.ops as ops
from easlab.cli import main
from easlab.errors import SpecError
from easlab.spec import parse_spec

#: a registry's user:password, base64 ("user:secret-registry-password")
DOCKER_AUTH = "dXNlcjpzZWNyZXQtcmVnaXN0cnktcGFzc3dvcmQ="

#: the JSON deployment page's example (the name in metadata, a custom image), with the
#: page's other blocks as its tables and the storage page write them
JSON_DEPLOYMENT = {
    "metadata": {
        "name": "demo",
        "instance": 1,
        "workspace_id": "123456",
        "cpu": 2,
        "memory": 4000,
        "rpc": {"keepalive": 10000, "max_queue_size": 32},
    },
    "cloud": {
        "computing": {"instances": [{"type": "ecs.c7a.large"}]},
        "networking": {
            "vpc_id": "vpc-1",
            "vswitch_id": "vsw-1",
            "security_group_id": "sg-1",
        },
    },
    "containers": [
        {
            "image": "eas-registry-vpc.cn-hangzhou.cr.aliyuncs.com/pai-eas/python-inference:py39",
            "script": "python app.py",
            "port": 8000,
            "env": [{"name": "MODE", "value": "prod"}],
            "prepare": {"pythonRequirements": ["numpy==1.26.4"]},
        }
    ],
    "dockerAuth": DOCKER_AUTH,
    "storage": [
        {"oss": {"path": "oss://bucket/models/", "readOnly": True}, "mount_path": "/mnt/models"},
        {
            "nfs": {"server": "xxx.cn-hangzhou.nas.aliyuncs.com", "path": "/", "readOnly": False},
            "mount_path": "/mnt/shared",
        },
    ],
    "networking": {"disable_internet_endpoint": True},
    "autoscaler": {"min": 1, "max": 4},
    "labels": {"team": "search"},
}

#: the older eascmd form (top-level name, a processor), with numbers written as text and
#: the rpc block nested as pai-python-sdk writes it ({"metadata": {"rpc": {...}}})
PROCESSOR_FORM = {
    "name": "scorer",
    "processor": "pmml",
    "model_path": "oss://models/scorer.pmml",
    "oss_endpoint": "oss-cn-hangzhou-internal.aliyuncs.com",
    "warm_up_data_path": "oss://models/warmup.bin",
    "metadata": {
        "instance": "2",
        "memory": "4000",
        "gpu_memory": 3,
        "rpc": {"batching": True, "keepalive": 5000},
    },
    "storage": [{"oss": {"path": "oss://bucket/dict/"}, "mount_path": "/mnt/dict"}],
}


def _sent(standin, action="CreateService"):
    return [r for r in standin.requests if r.action == action][-1].json()


@pytest.mark.parametrize("form", [JSON_DEPLOYMENT, PROCESSOR_FORM], ids=["json", "processor"])
def test_a_service_json_reaches_pai_eas_exactly_as_written(eas, pai, form):
    # was: the name in metadata alone was 'name: required'; a nested rpc block went as
    # "rpc.keepalive" keys, "2" as 2 (the local kernel's normalised form)
    standin, _ = eas
    svc = pai.create(copy.deepcopy(form), timeout=10)
    assert _sent(standin) == form
    assert svc.name == (form.get("name") or form["metadata"]["name"])
    assert svc.status == "Running"


def test_the_dry_run_shows_the_file_as_sent_its_notes_and_no_registry_password(eas, pai):
    standin, _ = eas
    plan = pai.plan_create(copy.deepcopy(JSON_DEPLOYMENT))
    assert plan.name == "demo" and plan.changes == ["(the same as the local one)"]
    assert plan.service_json == {**JSON_DEPLOYMENT, "dockerAuth": "****"}
    text = str(plan)
    assert DOCKER_AUTH not in text and '"dockerAuth": "****"' in text
    for field in ("cloud", "storage", "networking", "dockerAuth", "autoscaler", "labels"):
        assert f"warning: {field!r} is PAI-EAS's (" in text, field
    assert "warning: 'metadata.workspace_id' is PAI-EAS's (the PAI workspace" in text
    assert "unknown key" not in text
    assert standin.requests == []


def test_desc_shows_the_deployed_service_json_without_the_registry_password(
    eas, oss, monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    common = ["--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", eas[1]]
    path = tmp_path / "service.json"
    path.write_text(json.dumps(JSON_DEPLOYMENT))
    assert main(["create", *common, str(path), "--timeout", "10"]) == 0
    assert main(["desc", *common, "demo"]) == 0
    out, err = capsys.readouterr()
    assert DOCKER_AUTH not in out + err
    assert '"dockerAuth": "****"' in out and '"mount_path": "/mnt/models"' in out


def test_the_local_parse_notes_each_field_only_pai_eas_reads():
    spec = parse_spec(copy.deepcopy(PROCESSOR_FORM))
    joined = "\n".join(spec.warnings)
    for field in ("storage", "warm_up_data_path", "metadata.gpu_memory"):
        assert f"{field!r} is PAI-EAS's (" in joined, field
    assert joined.count("the local kernel does not act on it") == 3
    assert "unknown key" not in joined
    # the kernel's own form: numbers as numbers, and the same name at the top
    assert spec.metadata.instance == 2 and spec.metadata.keepalive_ms == 5000
    local = parse_spec(copy.deepcopy(JSON_DEPLOYMENT)).to_dict()
    assert local["name"] == "demo" and "name" not in local["metadata"]


@pytest.mark.parametrize(
    ("change", "field", "meant"),
    [
        ({"storge": []}, "storge", "'storage'"),
        ({"docker_auth": DOCKER_AUTH}, "docker_auth", "'dockerAuth'"),
        ({"autoscaller": {}}, "autoscaller", "'autoscaler'"),
        ({"metadata": {"name": "demo", "instance": 1, "workspaceid": "1"}}, None, None),
        (
            {"storage": [{"oss": {"path": "oss://b/p/"}, "mount_pth": "/mnt"}]},
            "storage[0].mount_pth",
            "'storage[0].mount_path'",
        ),
        (
            {"storage": [{"oss": {"path": "oss://b/p/", "readonly": True}, "mount_path": "/m"}]},
            "storage[0].oss.readonly",
            "'storage[0].oss.readOnly'",
        ),
        (
            {"cloud": {"computing": {"instance_typ": "ecs.c6.large"}}},
            "cloud.computing.instance_typ",
            "'cloud.computing.instance_type'",
        ),
        (
            {"cloud": {"networking": {"vswitchid": "vsw-1"}}},
            "cloud.networking.vswitchid",
            "'cloud.networking.vswitch_id'",
        ),
        (
            {"containers": [{"image": "i", "port": 8000, "prepare": {"pythonRequirement": []}}]},
            "containers[0].prepare.pythonRequirement",
            "'containers[0].prepare.pythonRequirements'",
        ),
    ],
    ids=[
        "storage",
        "dockerAuth",
        "autoscaler",
        "workspace_id",
        "mount_path",
        "readOnly",
        "instance_type",
        "vswitch_id",
        "pythonRequirements",
    ],
)
def test_a_near_miss_of_a_pai_eas_field_is_named_and_nothing_is_sent(
    eas, pai, change, field, meant
):
    standin, _ = eas
    doc = {**copy.deepcopy(JSON_DEPLOYMENT), **change}
    if field is None:  # metadata.workspaceid: the block replaced
        field, meant = "metadata.workspaceid", "'metadata.workspace_id'"
    with pytest.raises(SpecError) as info:
        pai.create(doc, wait=False)
    assert info.value.field == field
    assert f"did you mean {meant}?" in str(info.value)
    with pytest.raises(SpecError) as dry:
        pai.plan_create(doc)
    assert dry.value.field == field
    with pytest.raises(SpecError) as local:
        parse_spec(doc)
    assert local.value.field == field
    if field == "storage[0].mount_pth":
        # kept on purpose, the mount still has no mount_path: EAS could not mount it
        with pytest.raises(SpecError) as kept:
            pai.create(doc, wait=False, allow_unknown_keys=True)
        assert kept.value.field == "storage[0].mount_path"
        assert standin.requests == []
        return
    # kept on purpose: it goes as written
    pai.create(doc, wait=False, allow_unknown_keys=True)
    assert _sent(standin) == doc


def test_two_names_that_differ_are_refused_naming_both(eas, pai):
    doc = {**copy.deepcopy(JSON_DEPLOYMENT), "name": "other"}
    with pytest.raises(SpecError) as info:
        pai.create(doc)
    assert info.value.field == "metadata.name"
    assert "'demo', and name says 'other'" in info.value.message
    assert eas[0].requests == []


def test_verbs_of_a_service_named_in_metadata(eas, pai):
    standin, _ = eas
    ops.create(copy.deepcopy(JSON_DEPLOYMENT), kernel=pai, timeout=10)
    assert [d["name"] for d in ops.ls(kernel=pai)] == ["demo"]
    # modify -s of the same name goes as written; another name is refused before sending
    ops.modify("demo", spec={"metadata": {"name": "demo", "instance": 2}}, kernel=pai, timeout=10)
    assert _sent(standin, "UpdateService") == {"metadata": {"name": "demo", "instance": 2}}
    with pytest.raises(SpecError) as info:
        ops.modify("demo", spec={"metadata": {"name": "other"}}, kernel=pai)
    assert info.value.field == "metadata.name" and "a service keeps its name" in str(info.value)
    # a blue-green sibling is renamed where the file names it
    sibling = ops.create(copy.deepcopy(JSON_DEPLOYMENT), blue_green=True, kernel=pai, timeout=10)
    sent = _sent(standin)
    assert "name" not in sent and sent["metadata"]["name"] == sibling.name
    assert sibling.name.startswith("demo_") and sent["metadata"]["group"] == "demo"
    assert ops.delete("demo", kernel=pai)["deleted"] == "demo"


APP = """\
import allspark


class EchoProcessor(allspark.BaseProcessor):
    def process(self, data):
        return data, 200
"""


def test_the_local_kernel_serves_a_processor_named_in_metadata_and_notes_the_rest(
    kernel_endpoint, tmp_path, capsys
):
    from easlab.client.control import KernelClient

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").write_text(APP)
    doc = {
        "metadata": {"name": "forms_local", "instance": 1, "workspace_id": "123456"},
        "processor_type": "python",
        "processor_path": "./app",
        "processor_entry": "app.py",
        "dockerAuth": DOCKER_AUTH,
        "storage": JSON_DEPLOYMENT["storage"],
    }
    path = tmp_path / "service.json"
    path.write_text(json.dumps(doc))
    # the dry run says what the create will
    assert main(["create", str(path), "--dry-run", "--endpoint", kernel_endpoint]) == 0
    out = capsys.readouterr().out
    assert out.startswith("forms_local: valid; would create")
    assert "warning: 'storage' is PAI-EAS's (" in out and DOCKER_AUTH not in out
    client = KernelClient(kernel_endpoint)
    svc = client.create(path)
    assert (svc.name, svc.status) == ("forms_local", "Running")
    assert svc.client().predict(b"ping").response_data == b"ping"
    notes = [w for w in svc.desc["warnings"] if "the local kernel does not act on it" in w]
    assert [n.split("'")[1] for n in notes] == ["metadata.workspace_id", "dockerAuth", "storage"]
    # a blue-green sibling takes a name of its own, though the file names it in metadata
    sibling = client.create(path, blue_green=True)
    assert sibling.name.startswith("forms_local_") and sibling.status == "Running"
    client.delete(sibling.name)
    client.delete("forms_local")


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        (
            {"metadata": {"name": "demo", "instance": 1, "memory": "4G"}},
            "metadata.memory",
            'EAS takes a whole number of MB, e.g. "memory": 4096',
        ),
        ({"storage": {"oss": {"path": "oss://b/p/"}}}, "storage", "a list of mounts"),
        (
            {"storage": [{"oss": {"path": "oss://b/p/"}, "mount_path": "mnt/data"}]},
            "storage[0].mount_path",
            "an absolute path",
        ),
        (
            {"storage": [{"oss": {"path": "./data"}, "mount_path": "/mnt/data"}]},
            "storage[0].oss.path",
            "a folder on this machine is not uploaded for a mount: `easlab upload FOLDER",
        ),
        (
            {"storage": [{"oss": {"path": "bucket/p/"}, "mount_path": "/mnt/data"}]},
            "storage[0].oss.path",
            "an oss://bucket/path/ URL; got 'bucket/p/'",
        ),
    ],
    ids=["memory with a unit", "storage not a list", "relative mount", "local folder", "no oss"],
)
def test_what_pai_eas_would_not_take_as_written_is_refused_before_sending(
    eas, pai, change, field, says
):
    # was: "4G" became 4096 on the way (now the file goes as written); a mount of a local
    # folder, or at a relative path, went to EAS
    standin, _ = eas
    doc = {**copy.deepcopy(JSON_DEPLOYMENT), **change}
    with pytest.raises(SpecError) as info:
        pai.create(doc)
    assert info.value.field == field and says in info.value.message
    assert "not deployable on PAI-EAS" in info.value.message
    plan = pai.plan_create(doc)
    assert "EAS would refuse it as written" in plan.headline
    assert any(line.startswith(f"error: {field}: ") and says in line for line in plan.lines())
    assert standin.requests == []


def test_an_override_outside_metadata_reaches_pai_eas_as_nested_fields(eas, pai):
    # was: UpdateService got {"cloud": {"computing.instance_type": ...}}, a key EAS lacks
    standin, _ = eas
    pai.create(copy.deepcopy(JSON_DEPLOYMENT), timeout=10)
    ops.modify(
        "demo",
        ["cloud.computing.instance_type=ecs.c7.large", "metadata.rpc.keepalive=20000"],
        kernel=pai,
        timeout=10,
    )
    assert _sent(standin, "UpdateService") == {
        "cloud": {"computing": {"instance_type": "ecs.c7.large"}},
        "metadata": {"rpc.keepalive": 20000},  # metadata's keys are themselves dotted
    }
    updates = standin.actions().count("UpdateService")
    with pytest.raises(SpecError) as info:  # labels.team is "search", not an object
        ops.modify("demo", ["labels.team.lead=x"], kernel=pai)
    assert "cannot set 'lead' inside 'labels.team': it is not an object" in str(info.value)
    assert standin.actions().count("UpdateService") == updates


def test_the_cli_sends_and_shows_a_file_as_written(eas, oss, monkeypatch, capsys, tmp_path):
    # was: a file given by path went through the local kernel's form on its way to
    # PAI-EAS (rpc flattened, metadata.name moved to the top), in the dry run and create
    standin, host = eas
    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    common = ["--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", host]
    path = tmp_path / "service.json"
    path.write_text(json.dumps(JSON_DEPLOYMENT))
    assert main(["create", *common, str(path), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["service_json"] == {**JSON_DEPLOYMENT, "dockerAuth": "****"}
    assert main(["create", *common, str(path), "--timeout", "10"]) == 0
    assert _sent(standin) == JSON_DEPLOYMENT
    # a modify naming another service: the dry run refuses it as the modify does
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"metadata": {"name": "other", "instance": 2}}))
    for dry in (["--dry-run"], []):
        capsys.readouterr()
        assert main(["modify", *common, "demo", "-s", str(other), *dry]) != 0
        err = capsys.readouterr().err
        assert "metadata.name: the spec names 'other', not 'demo'" in err, (dry, err)
    assert "UpdateService" not in standin.actions()


def test_a_password_inside_a_mount_is_shown_nowhere_and_sent_as_written(
    eas, pai, monkeypatch, capsys, tmp_path
):
    # was: the dry run printed a mount's password in the service.json to send and the
    # local dry run in its diff ('+ storage: [{"git": {... "password": "..."}}]')
    standin, host = eas
    doc = copy.deepcopy(JSON_DEPLOYMENT)
    doc["storage"].append(
        {
            "git": {"repo": "https://example.com/me/code.git", "password": "git-pw-9876"},
            "mount_path": "/mnt/code",
        }
    )
    plan = pai.plan_create(copy.deepcopy(doc))
    assert "git-pw-9876" not in str(plan) and "git-pw-9876" not in json.dumps(plan.service_json)
    assert plan.service_json["storage"][2]["git"]["password"] == "****"
    local = ops.create(copy.deepcopy(doc), dry_run=True)  # no kernel: validates only
    assert "git-pw-9876" not in str(local) and '"password": "****"' in str(local)
    pai.create(copy.deepcopy(doc), timeout=10)
    assert _sent(standin) == doc
    common = ["--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", host]
    assert main(["desc", *common, "demo"]) == 0
    assert "git-pw-9876" not in capsys.readouterr().out


def test_desc_and_ls_say_which_image_a_custom_image_service_runs(eas, pai):
    # was: the processor of an image deployment was blank in desc, ls and %eas's summary
    pai.create(copy.deepcopy(JSON_DEPLOYMENT), timeout=10)
    image = JSON_DEPLOYMENT["containers"][0]["image"]
    assert ops.desc("demo", kernel=pai)["processor"] == f"image {image}"
    assert [d["processor"] for d in ops.ls(kernel=pai)] == [f"image {image}"]


def test_numbers_written_as_text_go_as_written_with_a_warning(eas, pai):
    # easlab's parse reads "2" as 2 for the local kernel; PAI-EAS gets "2" (the file as
    # written), which its pages never write: said, not changed
    standin, _ = eas
    plan = pai.plan_create(copy.deepcopy(PROCESSOR_FORM))
    lines = [line for line in plan.lines() if "written as text" in line]
    assert lines == [
        "warning: metadata.instance: written as text ('2'): the local kernel reads it as a "
        "value, PAI-EAS gets the text, and its pages write a value here: write 2 without quotes",
        "warning: metadata.memory: written as text ('4000'): the local kernel reads it as a "
        "value, PAI-EAS gets the text, and its pages write a value here: write 4000 without "
        "quotes",
    ]
    svc = pai.create(copy.deepcopy(PROCESSOR_FORM), timeout=10)
    assert _sent(standin)["metadata"]["instance"] == "2"
    assert any("metadata.instance: written as text ('2')" in w for w in svc.desc["warnings"])


def test_a_service_type_the_local_kernel_does_not_run_is_said_and_a_near_miss_named(
    eas, pai, kernel_endpoint, tmp_path
):
    # was: any metadata.type but Queue/Async was taken without a word, so "Asnyc" ran
    # locally as a standard service without its queues, and went to EAS so
    from easlab.client.control import KernelClient

    standin, _ = eas
    typo = copy.deepcopy(PROCESSOR_FORM)
    typo["metadata"]["type"] = "Asnyc"
    for attempt in (lambda: pai.create(typo), lambda: parse_spec(typo)):
        with pytest.raises(SpecError) as info:
            attempt()
        assert info.value.field == "metadata.type" and "did you mean 'Async'?" in str(info.value)
    assert standin.requests == []
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").write_text(APP)
    other = {
        "name": "forms_kind",
        "processor_type": "python",
        "processor_path": str(tmp_path / "app"),
        "processor_entry": "app.py",
        "metadata": {"instance": 1, "type": "OtherKind"},
    }
    svc = KernelClient(kernel_endpoint).create(other)
    assert svc.status == "Running" and svc.client().predict(b"x").response_data == b"x"
    assert any(
        "'metadata.type' is PAI-EAS's (a OtherKind service; the local kernel runs Standard, "
        "Async, Queue ones and serves this one as Standard)" in w
        for w in svc.desc["warnings"]
    )
    standard = {**other, "name": "forms_standard", "metadata": {"instance": 1, "type": "Standard"}}
    assert not [w for w in parse_spec(standard).warnings if "metadata.type" in w]
    KernelClient(kernel_endpoint).delete("forms_kind")


def test_a_modify_to_a_near_miss_of_a_service_type_is_refused_before_sending(eas, pai):
    standin, _ = eas
    pai.create(copy.deepcopy(PROCESSOR_FORM), timeout=10)
    with pytest.raises(SpecError) as info:
        ops.modify("scorer", ["metadata.type=Asnyc"], kernel=pai)
    assert info.value.field == "metadata.type" and "did you mean 'Async'?" in str(info.value)
    with pytest.raises(SpecError):
        ops.modify("scorer", spec={"metadata": {"type": "Queu"}}, kernel=pai)
    assert "UpdateService" not in standin.actions()
