"""The pysdk loop's last steps against the EAS and OSS STAND-INS (tests/cloud/*_standin.py,
not Alibaba Cloud): ``create --target pai app.json`` before ``pysdk pack`` says to pack,
and ``easlab upload`` of a package whose ENV is a virtualenv tied to this machine warns
before sending it, as ``pysdk pack`` warns and ``create --target pai`` refuses it (was:
uploaded without a word; a service naming its oss:// URL then failed on EAS). Real
``pysdk init`` ENVs (without pip)."""

from __future__ import annotations

import pytest

from easlab.cli import main
from easlab.pysdk.init import init_project
from easlab.pysdk.pack import pack_project


@pytest.fixture
def pai_cli(eas, oss, monkeypatch, capsys):
    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    common = ["--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", eas[1]]

    def run(verb: str, *argv: str) -> tuple[int, str]:
        code = main([verb, *common, "--oss", "oss://models/easlab", *argv])
        out, err = capsys.readouterr()
        return code, out + err

    return run


def test_create_before_pack_says_to_pack(pai_cli, eas, oss, tmp_path):
    init_project(tmp_path / "demo", with_pip=False)
    code, said = pai_cli("create", str(tmp_path / "demo" / "app.json"))
    assert code == 1 and "error: processor_path:" in said
    assert "does not exist on this machine" in said
    assert f"the package is not made yet: `easlab pysdk pack {tmp_path / 'demo'}`" in said, said
    assert eas[0].requests == [] and oss[0].objects == {}


def test_upload_of_a_venv_package_warns_before_sending(pai_cli, oss, tmp_path):
    init_project(tmp_path / "demo", with_pip=False)
    archive, _ = pack_project(tmp_path / "demo")
    code, said = pai_cli("upload", str(archive))
    assert code == 0 and len(oss[0].puts) == 1  # eascmd sends it all the same
    warned = said.index("[WARN] for PAI-EAS: the package's ENV is a virtualenv")
    assert warned < said.index("Uploaded oss://"), said
    code, said = pai_cli("upload", str(tmp_path / "demo" / "app.py"))
    assert code == 0 and "[WARN]" not in said
