"""``easlab create --dry-run`` against the local kernel: what a real create would answer.

A dry run with no kernel validates only (and says so); with one, it names the
refusals the create would meet (the service exists: 409; the host lacks the GPUs)
and exits 1 for them, as the create does.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from easlab.cli import main
from easlab.errors import SpecError

APP = """\
import allspark


class EchoProcessor(allspark.BaseProcessor):
    def process(self, data):
        return data, 200
"""


@pytest.fixture(scope="module")
def endpoint(kernel_endpoint: str) -> str:
    return kernel_endpoint  # conftest.py: a kernel of this module's own


def _service(folder: Path, name: str, **meta) -> Path:
    (folder / "app").mkdir(exist_ok=True)
    (folder / "app" / "app.py").write_text(APP)
    spec = {
        "name": name,
        "processor_type": "python",
        "processor_path": "./app",  # relative to the file: the kernel stores it absolute
        "processor_entry": "app.py",
        "metadata": {"instance": 1, **meta},
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def test_dry_run_without_a_kernel_validates_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EASLAB_ENDPOINT", raising=False)
    path = _service(tmp_path, "dry_alone")
    assert main(["create", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "dry_alone: valid; would create (5 changes)"
    assert out[1].startswith("note: no easlab kernel runs: validated only")
    # a bad description still fails, kernel or not
    path.write_text(json.dumps({"name": "Bad-Name", "metadata": {"instance": 1}}))
    assert main(["create", str(path), "--dry-run"]) == 1
    assert "not a valid service name" in capsys.readouterr().err


def test_dry_run_of_an_existing_service_says_create_would_be_refused(endpoint, tmp_path, capsys):
    path = _service(tmp_path, "dry_exists")
    assert main(["create", str(path), "--endpoint", endpoint]) == 0
    capsys.readouterr()
    try:
        assert main(["create", str(path), "--dry-run", "--endpoint", endpoint]) == 1
        out = capsys.readouterr().out
        assert out.startswith(
            "dry_exists: valid, but 'dry_exists' exists: create would be refused (409); use "
            "`modify dry_exists -s FILE`"
        )
        assert "processor_path" not in out  # ./app is the deployed /abs/app: no change
        assert main(["create", str(path), "--endpoint", endpoint]) == 1
        assert "(HTTP 409)" in capsys.readouterr().err
        # a blue-green sibling is no conflict
        assert main(["create", str(path), "-r", "--dry-run", "--endpoint", endpoint]) == 0
    finally:
        main(["delete", "dry_exists", "-y", "--endpoint", endpoint])


def test_dry_run_runs_the_kernels_gpu_check(endpoint, tmp_path, capsys):
    # more GPUs than any test machine has: the kernel would refuse the create
    path = _service(tmp_path, "dry_gpus", gpu=64)
    assert main(["create", str(path), "--dry-run", "--endpoint", endpoint]) == 1
    headline = capsys.readouterr().out.splitlines()[0]
    assert headline.startswith("dry_gpus: valid, but create would be refused: metadata.gpu: 64")
    assert "--allow-cpu-fallback" in headline
    args = ["create", str(path), "--dry-run", "--allow-cpu-fallback", "--endpoint", endpoint]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("dry_gpus: valid; would create")
    assert "warning: 64 GPU(s) per instance" in out and "would run on CPU" in out

    # the GPU need comes from the processor code: the refusal names it, and its CPU code
    (tmp_path / "m.pt").write_bytes(b"not loaded by a dry run")
    code = tmp_path / "code.json"
    spec = {"name": "dry_code", "processor": "pytorch_gpu_1.6", "model_path": "./m.pt"}
    code.write_text(json.dumps({**spec, "metadata": {"instance": 64, "gpu": 0}}))
    assert main(["create", str(code), "--dry-run", "--endpoint", endpoint]) == 1
    headline = capsys.readouterr().out.splitlines()[0]
    assert "processor 'pytorch_gpu_1.6' runs on a GPU" in headline
    assert "'pytorch_cpu_1.6'" in headline and "metadata.gpu" not in headline


def _kernel_check(gpus: int, spec: dict) -> SpecError:
    """The kernel's GPU check on a host with ``gpus`` GPUs, none held."""
    from easlab.kernel.gpu_ledger import GpuLedger
    from easlab.spec import parse_spec

    devices = [SimpleNamespace(index=i) for i in range(gpus)]
    ledger = GpuLedger(SimpleNamespace(gpus=devices, message=""))  # type: ignore[arg-type]
    parsed = parse_spec(spec)
    with pytest.raises(SpecError) as info:
        ledger.check(parsed, parsed.metadata.instance, False)
    return info.value


def test_the_kernels_gpu_refusal_names_the_processor_when_its_code_needs_the_gpu():
    base = {"name": "k", "model_path": "/m.pt", "metadata": {"instance": 1, "gpu": 0}}
    error = _kernel_check(0, {**base, "processor": "pytorch_gpu_1.6"})
    assert error.field == "processor"
    assert "'pytorch_cpu_1.6'" in error.message and "--allow-cpu-fallback" in error.message
    assert "Lower metadata.gpu" not in error.message  # it is 0 already
    error = _kernel_check(0, {**base, "processor": "mediaflow"})
    assert error.field == "processor" and "host with a GPU" in error.message
    error = _kernel_check(1, {**base, "metadata": {"instance": 1, "gpu": 2}, "processor": "pmml"})
    assert error.field == "metadata.gpu" and "Lower metadata.gpu" in error.message


def test_dry_run_names_a_model_path_the_local_kernel_cannot_read(endpoint, tmp_path, capsys):
    # both said "valid; would create", and the create itself was refused
    spec = {"name": "dry_paths", "processor": "pmml", "metadata": {"instance": 1}}
    path = tmp_path / "sub" / "svc.json"
    path.parent.mkdir()
    missing = f"no such file or directory: {path.parent / 'm.pmml'}"
    for model_path, why, also in (
        ("oss://bucket/m.pmml", "model_path: oss://bucket/m.pmml is an OSS path", "OSS path"),
        ("m.pmml", f"model_path: m.pmml: {missing}", missing),
    ):
        path.write_text(json.dumps({**spec, "model_path": model_path}))
        assert main(["create", str(path), "--dry-run", "--endpoint", endpoint]) == 1
        headline = capsys.readouterr().out.splitlines()[0]
        assert headline.startswith(f"dry_paths: valid, but create would be refused: {why}")
        assert main(["create", str(path), "--endpoint", endpoint]) == 1
        assert also in capsys.readouterr().err  # the create's own refusal
    (path.parent / "m.pmml").write_text("<PMML/>")
    assert main(["create", str(path), "--dry-run", "--endpoint", endpoint]) == 0
    assert capsys.readouterr().out.startswith("dry_paths: valid; would create")


def test_modify_dry_run_names_a_path_the_local_kernel_cannot_read(
    endpoint, tmp_path, monkeypatch, capsys
):
    # it said "valid; would update" and the modify itself was refused; relative paths
    # were shown from the current folder, not from the partial spec's, as the modify reads them
    folder = tmp_path / "sub"
    folder.mkdir()
    path = _service(folder, "dry_modify")
    assert main(["create", str(path), "--endpoint", endpoint]) == 0
    monkeypatch.chdir(tmp_path)  # not the spec's folder
    change = folder / "v2.json"
    missing = f"no such file or directory: {folder / 'gone'}"
    try:
        for processor_path, why, also in (
            ("oss://bucket/app", "processor_path: oss://bucket/app is an OSS path", "OSS path"),
            ("./gone", f"processor_path: ./gone: {missing} (relative to {folder})", missing),
        ):
            change.write_text(json.dumps({"processor_path": processor_path}))
            capsys.readouterr()
            args = ["modify", "dry_modify", "-s", str(change), "--endpoint", endpoint]
            assert main([*args, "--dry-run"]) == 1
            headline = capsys.readouterr().out.splitlines()[0]
            assert headline.startswith(f"dry_modify: valid, but modify would be refused: {why}")
            assert main(args) == 1
            assert also in capsys.readouterr().err  # the modify's own refusal
        # the same from -D, whose relative paths are the current folder's
        args = ["modify", "dry_modify", "-Dprocessor_path=./gone", "--dry-run"]
        assert main([*args, "--endpoint", endpoint]) == 1
        out = capsys.readouterr().out
        assert out.startswith(
            "dry_modify: valid, but modify would be refused: processor_path: ./gone: no such "
            f"file or directory: {tmp_path / 'gone'} (relative to {tmp_path})"
        )
        # a path that is there, next to the spec: no refusal, and the diff shows it
        (folder / "gone").mkdir()
        (folder / "gone" / "app.py").write_text(APP)
        args = ["modify", "dry_modify", "-s", str(change), "--dry-run", "--endpoint", endpoint]
        assert main(args) == 0
        out = capsys.readouterr().out
        assert out.startswith("dry_modify: valid; would update (1 change)")
        assert f'-> "{folder / "gone"}"' in out
        # a change that makes no new version does not look at the paths
        (folder / "gone" / "app.py").unlink()
        (folder / "gone").rmdir()
        args = ["modify", "dry_modify", "-Dmetadata.instance=2", "--dry-run"]
        assert main([*args, "--endpoint", endpoint]) == 0
        assert "refused" not in capsys.readouterr().out
        assert json.loads(_desc(endpoint, capsys))["current_version"] == 1  # nothing changed
    finally:
        main(["delete", "dry_modify", "-y", "--endpoint", endpoint])


def test_modify_reads_a_relative_override_path_from_the_current_folder(
    endpoint, tmp_path, monkeypatch, capsys
):
    # -Dprocessor_path=./v2 was sent as it was written, and the kernel read it from its
    # own folder: refused with "no such file or directory: <the kernel's state>/v2"
    path = _service(tmp_path, "dash_d_path")
    assert main(["create", str(path), "--endpoint", endpoint]) == 0
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "app.py").write_text(APP)
    monkeypatch.chdir(tmp_path)
    try:
        assert main(["modify", "dash_d_path", "-Dprocessor_path=./v2", "--endpoint", endpoint]) == 0
        desc = json.loads(_desc(endpoint, capsys, "dash_d_path"))
        assert desc["current_version"] == 2
        assert desc["spec"]["processor_path"] == str(tmp_path / "v2")
    finally:
        main(["delete", "dash_d_path", "-y", "--endpoint", endpoint])


def _desc(endpoint: str, capsys, name: str = "dry_modify") -> str:
    capsys.readouterr()
    assert main(["desc", name, "--json", "--endpoint", endpoint]) == 0
    return capsys.readouterr().out


def test_modify_dry_run_refuses_another_name_as_the_modify_does(endpoint, tmp_path, capsys):
    path = _service(tmp_path, "dry_rename")
    assert main(["create", str(path), "--endpoint", endpoint]) == 0
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"name": "dry_other", "metadata": {"instance": 2}}))
    try:
        for change in (["-Dname=dry_other"], ["-s", str(other)]):
            args = ["modify", "dry_rename", *change, "--endpoint", endpoint]
            capsys.readouterr()
            # was: "valid; would update", the name quietly dropped, and the modify refused
            assert main([*args, "--dry-run"]) == 1
            assert "keeps its name" in capsys.readouterr().err
            assert main(args) == 1
            assert "keeps its name" in capsys.readouterr().err
    finally:
        main(["delete", "dry_rename", "-y", "--endpoint", endpoint])


def test_dry_run_names_the_kernels_instance_limit(endpoint, tmp_path, capsys):
    # `modify NAME -Dmetadata.instance=1e9 --dry-run` (and a create asking as many) said
    # "valid; would update" and exited 0; the modify itself was refused: "this kernel
    # runs at most 64"
    path = _service(tmp_path, "dry_many")
    e = ("--endpoint", endpoint)
    assert main(["create", str(path), *e]) == 0
    capsys.readouterr()
    try:
        args = ["modify", "dry_many", "-Dmetadata.instance=1000000", *e]
        assert main([*args, "--dry-run"]) == 1
        out = capsys.readouterr().out
        assert out.startswith(
            "dry_many: valid, but modify would be refused: metadata.instance: service "
            "'dry_many' asks for 1000000 instance(s), each a process on this machine; this "
            "kernel runs at most "
        ), out
        assert main(args) == 1  # the modify's own refusal, in the same words
        assert out.split("refused: ", 1)[1].split(". Lower")[0] in capsys.readouterr().err
        # a create asking too many, counting the instances dry_many holds
        big = _service(tmp_path, "dry_big", **{"instance": 1000000})
        assert main(["create", str(big), "--dry-run", *e]) == 1
        out = capsys.readouterr().out
        assert "create would be refused: metadata.instance: service 'dry_big' asks for " in out
        assert "1 of them held by other services" in out
        # within the limit: no refusal
        assert main(["modify", "dry_many", "-Dmetadata.instance=2", "--dry-run", *e]) == 0
        assert "refused" not in capsys.readouterr().out
    finally:
        main(["delete", "dry_many", "-y", *e])


def test_create_r_of_a_service_that_does_not_exist_says_so(endpoint, tmp_path, capsys):
    # `create -r` of a new name answered only "service 'dry_nobase' not found (services:
    # ...)", and its --dry-run said "valid; would create" and exited 0
    path = _service(tmp_path, "dry_nobase")
    e = ("--endpoint", endpoint)
    why = (
        "create -r makes a blue-green sibling of an existing service, and 'dry_nobase' does "
        "not exist: create it without -r first"
    )
    assert main(["create", str(path), "-r", "--dry-run", *e]) == 1
    assert why in capsys.readouterr().out
    assert main(["create", str(path), "-r", *e]) == 1
    assert why in capsys.readouterr().err
    assert main(["desc", "dry_nobase", *e]) == 1  # nothing was made
