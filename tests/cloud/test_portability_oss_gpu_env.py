"""What the cloud dry run must catch before EAS does: an ``oss://`` path with no
``oss_endpoint`` (a warning: EAS reads the region's own), a GPU processor code with no GPU resources (and GPUs a CPU code
leaves idle), a package whose ENV is a virtualenv tied to this machine; and a dry
run whose plan has errors exits 1."""

from __future__ import annotations

import json
import tarfile

import pytest

from easlab.cli import main
from easlab.cloud.portability import check_portability

ON_OSS = {
    "name": "which_device",
    "processor_type": "python",
    "processor_path": "oss://examplebucket/processors/which_device/",
    "processor_entry": "app.py",
    "metadata": {"instance": 1},
}


def _fields(report, kind="blocking"):
    return [f for f, _ in getattr(report, kind)]


def test_an_oss_path_without_oss_endpoint_is_a_warning_naming_the_endpoint_used(tmp_path):
    # Alibaba Cloud's current "Parameters of model services" page: without oss_endpoint EAS
    # uses the current region's OSS endpoint; one is needed for another region's bucket.
    # Was an error (the 2021 manual required it), refusing a file EAS takes
    report = check_portability(ON_OSS, oss_configured=False, region="cn-shanghai")
    assert _fields(report) == [] and _fields(report, "warnings") == ["oss_endpoint"]
    message = dict(report.warnings)["oss_endpoint"]
    assert "processor_path" in message and "(oss-cn-shanghai-internal.aliyuncs.com)" in message
    assert "a bucket in another region fails to load" in message
    given = {**ON_OSS, "oss_endpoint": "oss-cn-shanghai-internal.aliyuncs.com"}
    assert check_portability(given, oss_configured=False).lines() == []
    # a modify -s update keeps the service's own endpoint: a note, not an error
    update = {"processor_path": ON_OSS["processor_path"]}
    assert _fields(check_portability(update, oss_configured=False)) == []
    assert _fields(check_portability(update, oss_configured=False), "notes") == ["oss_endpoint"]
    # easlab uploads the model and sets the region's endpoint (plan_uploads): said, not refused
    (tmp_path / "m.onnx").write_bytes(b"onnx")
    mixed = {**ON_OSS, "model_path": "./m.onnx"}
    uploading = check_portability(
        mixed, oss_configured=True, region="cn-shanghai", base_dir=tmp_path
    )
    assert _fields(uploading) == [] and "oss_endpoint" in _fields(uploading, "notes")
    assert "set to oss-cn-shanghai-internal.aliyuncs.com" in dict(uploading.notes)["oss_endpoint"]


@pytest.mark.parametrize(
    ("processor", "meta", "cloud", "blocking", "warnings"),
    [
        ("pytorch_gpu_1.6", {"gpu": 0}, None, ["processor"], []),
        ("pytorch_gpu_1.6", {}, None, ["processor"], []),
        ("blade_cuda10.0_beta", {}, None, ["processor"], []),
        ("pytorch_gpu_1.6", {"gpu": 1, "resource": "eas-r-gpu"}, None, [], []),
        ("pytorch_gpu_1.6", {}, {"instance_type": "ecs.gn6i-c4g1.xlarge"}, [], []),
        ("pytorch_gpu_1.6", {}, {"instance_type": "ml.gu7i.c16m60.1-gu30"}, [], []),
        ("pytorch_gpu_1.6", {}, {"instance_type": "ecs.c6.large"}, ["processor"], []),
        ("tensorflow_cpu_1.15", {"gpu": 1}, None, [], ["processor"]),
        ("tensorflow_cpu_1.15", {}, {"instance_type": "ecs.gn6i-c4g1.xlarge"}, [], ["processor"]),
        ("pmml", {"gpu": 1}, {"instance_type": "ecs.c6.large"}, [], ["metadata.gpu"]),
        ("pmml", {}, None, [], []),
    ],
)
def test_gpu_processor_codes_need_gpu_resources(processor, meta, cloud, blocking, warnings):
    spec = {
        "name": "m",
        "processor": processor,
        "model_path": "oss://b/m",
        "oss_endpoint": "oss-cn-hangzhou-internal.aliyuncs.com",
        "metadata": {"instance": 1, **meta},
    }
    if cloud:
        spec["cloud"] = {"computing": cloud}
    report = check_portability(spec, oss_configured=False)
    assert _fields(report) == blocking
    assert _fields(report, "warnings") == warnings
    if blocking and "_gpu" in processor:
        assert "pytorch_cpu_1.6" in dict(report.blocking)["processor"]


def _venv_package(folder, home="/root/.pyenv/versions/3.11.7/bin"):
    (folder / "ENV" / "bin").mkdir(parents=True)
    (folder / "ENV" / "pyvenv.cfg").write_text(f"home = {home}\nversion = 3.11.7\n")
    (folder / "app.py").write_text("import allspark\n")
    return folder


def test_a_package_whose_env_is_a_virtualenv_is_refused_or_warned(tmp_path):
    folder = _venv_package(tmp_path / "demo")
    spec = {
        "name": "demo",
        "processor_type": "python",
        "processor_path": "../demo",  # relative to base_dir, as in pysdk's app.json
        "processor_entry": "./app.py",
        "metadata": {"instance": 1},
    }
    report = check_portability(spec, oss_configured=True, base_dir=folder)
    assert _fields(report) == ["processor_path"]
    message = dict(report.blocking)["processor_path"]
    assert "home = /root/.pyenv/versions/3.11.7/bin" in message
    assert "conda" in message and "data_image" in message
    # the archive pysdk pack makes (members at the root, ENV/ first)
    archive = tmp_path / "demo.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=".")
    packed = {**spec, "processor_path": str(archive)}
    assert _fields(check_portability(packed, oss_configured=True)) == ["processor_path"]
    # an image providing the interpreter: said, not refused
    imaged = check_portability({**packed, "data_image": "reg/x:1"}, oss_configured=True)
    assert _fields(imaged) == [] and _fields(imaged, "warnings") == ["processor_path"]
    # a system interpreter may exist in the processor image too
    system = _venv_package(tmp_path / "sys", home="/usr/bin")
    report = check_portability({**spec, "processor_path": str(system)}, oss_configured=True)
    assert _fields(report) == [] and _fields(report, "warnings") == ["processor_path"]
    # a conda ENV (no pyvenv.cfg) is self-contained
    (folder / "ENV" / "pyvenv.cfg").unlink()
    assert check_portability(spec, oss_configured=True, base_dir=folder).lines() == []
    zipped = tmp_path / "z.zip"
    import zipfile

    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("ENV/pyvenv.cfg", "home = /opt/py/bin\n")
        z.writestr("app.py", "import allspark\n")  # its processor_entry
    assert _fields(
        check_portability({**spec, "processor_path": str(zipped)}, oss_configured=True)
    ) == ["processor_path"]


def _pai(eas, *argv):
    return main(
        [
            "create",
            "--target",
            "pai",
            "--region",
            "cn-hangzhou",
            "--pai-endpoint",
            eas[1],
            "--oss",
            "oss://models/easlab",
            *argv,
        ]
    )


def test_cloud_dry_run_exits_1_when_eas_would_refuse(eas, oss, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    path = tmp_path / "d3.json"
    path.write_text(json.dumps({**ON_OSS, "metadata": {"instance": 1, "region": "cn-beijing"}}))
    assert _pai(eas, str(path), "--dry-run") == 1
    out = capsys.readouterr().out
    assert "(EAS would refuse it as written)" in out and "error: metadata.region:" in out
    assert _pai(eas, str(path)) == 1  # refused before anything is sent
    assert "metadata.region" in capsys.readouterr().err and eas[0].requests == []
    path.write_text(json.dumps(ON_OSS))  # no oss_endpoint: said, not refused
    assert _pai(eas, str(path), "--dry-run") == 0
    out = capsys.readouterr().out
    assert "(nothing sent)" in out and "warning: oss_endpoint: not given" in out
    assert _pai(eas, str(path), "--timeout", "10") == 0  # and created as written
    assert "[WARN] oss_endpoint: not given" in capsys.readouterr().out
    sent = [r for r in eas[0].requests if r.action == "CreateService"][-1].json()
    assert sent == ON_OSS


def test_cloud_dry_run_finds_the_venv_in_a_package_next_to_the_json(
    eas, oss, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    folder = _venv_package(tmp_path / "demo")
    archive = tmp_path / "demo.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=".")
    spec = {
        "name": "demo",
        "processor_type": "python",
        "processor_path": "../demo.tar.gz",  # pysdk's app.json: relative to its folder
        "processor_entry": "./app.py",
        "metadata": {"instance": 1},
    }
    (folder / "app.json").write_text(json.dumps(spec))
    monkeypatch.chdir(tmp_path.parent)  # not the json's folder
    assert _pai(eas, str(folder / "app.json"), "--dry-run") == 1
    out = capsys.readouterr().out
    assert "error: processor_path: the package's ENV is a virtualenv" in out
    assert oss[0].puts == [] and eas[0].requests == []


def test_portability_lines_order_errors_warnings_notes():
    spec = {
        "name": "m",
        "processor": "tensorflow_cpu_1.15",
        "model_path": "oss://b/m",
        "oss_endpoint": "oss-cn-hangzhou-internal.aliyuncs.com",
        "metadata": {"instance": 1, "gpu": 1, "resource": "eas-r-1"},
    }
    lines = check_portability(spec, oss_configured=False, allow_cpu_fallback=True).lines()
    assert [line.split(":")[0] for line in lines] == ["error", "warning", "note"]


def test_the_pai_client_itself_looks_in_a_package_beside_the_json(eas, oss, tmp_path, monkeypatch):
    """PaiClient.plan_create / modify given a path (not the CLI, which makes the paths
    absolute first) read the package relative to the service.json's folder."""
    from easlab.cloud.client import PaiClient
    from easlab.errors import EaslabError

    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    folder = _venv_package(tmp_path / "demo")
    spec = {
        "name": "demo",
        "processor_type": "python",
        "processor_path": "./",  # the package is the json's own folder
        "processor_entry": "./app.py",
        "metadata": {"instance": 1},
    }
    (folder / "app.json").write_text(json.dumps(spec))
    monkeypatch.chdir(tmp_path)  # not the json's folder
    pai = PaiClient("cn-hangzhou", endpoint=eas[1], oss="oss://models/easlab")
    plan = pai.plan_create(folder / "app.json")
    assert any(
        "processor_path: the package's ENV is a virtualenv" in line for line in plan.portability
    ), plan.portability
    with pytest.raises(EaslabError, match="ENV is a virtualenv"):
        pai.modify("demo", spec=folder / "app.json")
    assert oss[0].puts == [] and eas[0].requests == []


@pytest.mark.parametrize("code", ["python", "cpp"])
def test_easlabs_custom_processor_code_is_refused_with_what_eas_reads(code):
    # the local kernel takes "processor": "python" as a custom processor; EAS has no
    # such code, so the same file would not deploy there
    spec = {
        "name": "echo",
        "processor": code,
        "processor_path": "oss://bucket/app.tar.gz",
        "processor_entry": "app.py",
        "oss_endpoint": "oss-cn-shanghai.aliyuncs.com",
        "metadata": {"instance": 1},
    }
    report = check_portability(spec, oss_configured=True)
    assert _fields(report) == ["processor"]
    assert f'"processor_type": "{code}"' in report.lines()[0]
    spec["processor_type"] = spec.pop("processor")
    assert check_portability(spec, oss_configured=True).lines() == []


def test_what_eas_may_misrun_is_said_on_create_not_only_in_the_dry_run(eas, pai, capsys):
    """A CPU build on a GPU instance: create goes ahead, and says so as the dry run does."""
    spec = {
        "name": "idle_gpu",
        "processor": "tensorflow_cpu_1.15",
        "model_path": "oss://b/m",
        "oss_endpoint": "oss-cn-hangzhou-internal.aliyuncs.com",
        "metadata": {"instance": 1, "gpu": 1},
    }
    plan = pai.plan_create(spec)
    [warning] = [line for line in plan.portability if line.startswith("warning: processor:")]
    svc = pai.create(spec, wait=False)
    assert warning.removeprefix("warning: ") in svc.desc["warnings"]
    pai.delete("idle_gpu")
    # and still after waiting until it runs (easlab.create, the CLI and the magic wait)
    import easlab.ops as ops

    svc = ops.create(spec, kernel=pai)
    assert svc.desc["status"] == "Running"
    assert warning.removeprefix("warning: ") in svc.desc["warnings"]
