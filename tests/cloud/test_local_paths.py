"""A local model_path or processor_path that cannot be sent: not there, a loop of links, a
folder that cannot be packed (a full disk), a folder holding a socket. Each is said in one
line naming the field, before anything is uploaded or created. Against the tests' EAS and
OSS STAND-INS (tests/cloud/*_standin.py), not Alibaba Cloud."""

from __future__ import annotations

import json
import os
import socket
import tempfile

import pytest

from easlab.cli import main
from easlab.errors import SpecError


def _spec(tmp_path, model_path: str) -> str:
    path = tmp_path / "service.json"
    spec = {
        "name": "m1",
        "processor": "pmml",
        "model_path": model_path,
        "metadata": {"instance": 1},
    }
    path.write_text(json.dumps(spec))
    return str(path)


def _easlab(eas, capsys, *argv: str, oss: bool = True) -> tuple[int, str]:
    """(exit status, stdout and stderr)"""
    common = ["--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", eas[1]]
    code = main([argv[0], *common, *(["--oss", "oss://models/x"] if oss else []), *argv[1:]])
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("oss", [True, False])
def test_a_loop_of_links_is_said_not_a_traceback(eas, oss, capsys, tmp_path):
    standin, _ = eas
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    spec = _spec(tmp_path, "./a")
    code, err = _easlab(eas, capsys, "create", spec, oss=oss)
    assert code != 0
    assert "model_path" in err and "symbolic link that leads nowhere" in err, err
    code, said = _easlab(eas, capsys, "create", spec, "--dry-run", oss=oss)
    assert "error: model_path:" in said and "symbolic link that leads nowhere" in said, said
    assert standin.requests == []  # refused before the name check, before any upload


def test_a_missing_path_is_reported_by_the_dry_run_even_without_oss(eas, capsys, tmp_path):
    spec = _spec(tmp_path, "./model.pmml")
    code, out = _easlab(eas, capsys, "create", spec, "--dry-run", oss=False)
    assert (
        f"error: model_path: '{tmp_path / 'model.pmml'}' does not exist on this machine" in out
    ), out


def test_a_folder_that_does_not_fit_on_the_disk_says_where_it_is_packed(pai, monkeypatch, tmp_path):
    """The packing fills the disk (here /dev/full, which answers every write with ENOSPC)."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(os.urandom(1 << 16))
    full = tmp_path / "pack.tar.gz"

    def mkstemp(**kwargs):
        full.symlink_to("/dev/full")
        return os.open(full, os.O_WRONLY), str(full)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    spec = {
        "name": "m1",
        "processor": "pmml",
        "model_path": str(folder),
        "metadata": {"instance": 1},
    }
    with pytest.raises(SpecError) as info:
        pai.create(spec, wait=False)
    assert info.value.field == "model_path"
    assert "could not be packed" in str(info.value) and "TMPDIR" in str(info.value)
    assert not full.is_symlink()  # the half archive is removed


def test_a_socket_in_the_model_folder_is_left_out(pai, eas, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.pmml").write_text("<PMML/>")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(folder / "server.sock"))
        spec = {
            "name": "m1",
            "processor": "pmml",
            "model_path": str(folder),
            "metadata": {"instance": 1},
        }
        svc = pai.create(spec, wait=False)
    assert eas[0].services[svc.name]


def test_a_file_of_credentials_in_the_folder_is_warned_of(eas, oss, pai, tmp_path):
    folder = tmp_path / "proc"
    (folder / "conf" / ".aliyun").mkdir(parents=True)
    (folder / "app.py").write_text("import allspark\n")
    (folder / ".env").write_text("ALIBABA_CLOUD_ACCESS_KEY_SECRET=x\n")
    (folder / "conf" / ".aliyun" / "config.json").write_text("{}")
    spec = {
        "name": "p1",
        "processor_type": "python",
        "processor_entry": "app.py",
        "processor_path": str(folder),
        "metadata": {"instance": 1},
    }
    plan = pai.plan_create(spec)
    [warning] = [line for line in plan.portability if line.startswith("warning: processor_path")]
    assert ".env" in warning and "conf/.aliyun/config.json" in warning
    assert "looks like a file of credentials" in warning
    (folder / ".env").unlink()
    (folder / "conf" / ".aliyun" / "config.json").unlink()
    assert not any("credentials" in line for line in pai.plan_create(spec).portability)


def _custom(tmp_path, processor_path: str, entry: str) -> str:
    path = tmp_path / "custom.json"
    spec = {
        "name": "c1",
        "processor_type": "python",
        "processor_path": processor_path,
        "processor_entry": entry,
        "metadata": {"instance": 1},
    }
    path.write_text(json.dumps(spec))
    return str(path)


def test_a_processor_entry_not_in_the_local_folder_is_refused_before_the_upload(
    eas, oss, capsys, tmp_path, monkeypatch
):
    """The local kernel refuses it when the service starts; EAS took the upload and the
    create, and the service failed minutes later."""
    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").write_text("import allspark\n")
    code, said = _easlab(eas, capsys, "create", _custom(tmp_path, "./app", "main.py"))
    assert code == 1
    assert "error: processor_entry:" in said and "'main.py' is not in processor_path" in said
    assert "the package holds app.py" in said, said
    assert eas[0].requests == [] and oss[0].objects == {}
    code, said = _easlab(eas, capsys, "create", _custom(tmp_path, "./app", "./app.py"), "--dry-run")
    assert code == 0 and "error: processor_entry" not in said, said


def test_an_archive_packed_with_its_folder_names_the_folder(
    eas, oss, capsys, tmp_path, monkeypatch
):
    import tarfile

    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "app.py").write_text("import allspark\n")
    with tarfile.open(tmp_path / "demo.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "demo", arcname="demo")  # `tar czf demo.tar.gz demo/`
    code, said = _easlab(eas, capsys, "create", _custom(tmp_path, "./demo.tar.gz", "./app.py"))
    assert code == 1 and "it is at demo/app.py, inside the one folder demo/" in said, said
    assert "easlab pysdk pack demo" in said
    assert eas[0].requests == [] and oss[0].objects == {}
