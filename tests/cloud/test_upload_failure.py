"""An upload to OSS that fails halfway (the connection dropped): one error saying that
nothing was sent to EAS, which objects are on OSS already, and what to do. Against the
tests' EAS and OSS STAND-INS (tests/cloud/*_standin.py), not Alibaba Cloud."""

from __future__ import annotations

import io
import json

import pytest

from easlab.cloud.errors import PaiError


def _folders(tmp_path):
    model, proc = tmp_path / "model", tmp_path / "proc"
    model.mkdir()
    proc.mkdir()
    (model / "w.bin").write_bytes(b"\1" * 50_000)
    (proc / "app.py").write_text("import allspark\n")
    spec = {
        "name": "u1",
        "processor_type": "python",
        "processor_entry": "app.py",
        "processor_path": str(proc),
        "model_path": str(model),
        "metadata": {"instance": 1},
    }
    return model, spec


def test_an_upload_cut_halfway_says_nothing_was_sent_to_eas(eas, oss, pai, tmp_path):
    _, spec = _folders(tmp_path)
    oss[0].cut_puts_after = 1000
    with pytest.raises(PaiError) as info:
        pai.create(spec, wait=False)
    assert info.value.action == "PutObject"
    assert "nothing was sent to EAS" in str(info.value)
    assert "run the command again" in info.value.hint
    assert "CreateService" not in eas[0].actions()
    assert not str(info.value).endswith("..")


def test_what_is_on_oss_already_is_said(eas, oss, pai, tmp_path):
    model, spec = _folders(tmp_path)
    uri = pai.upload(model)  # the model went up earlier; the processor's upload is cut
    oss[0].cut_puts_after = 10
    with pytest.raises(PaiError) as info:
        pai.create(spec, wait=False)
    assert f"model_path ({uri}) is on OSS and is not sent again" in info.value.hint
    assert "uploading " + spec["processor_path"] in str(info.value)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_error_is_not_written_after_a_half_drawn_bar(
    eas, oss, monkeypatch, tmp_path
):
    from easlab.cli import main

    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    err = _Terminal()
    monkeypatch.setattr("sys.stderr", err)
    archive = tmp_path / "big.tar.gz"
    archive.write_bytes(b"\1" * 32_000_000)  # more than loopback buffers hold
    oss[0].cut_puts_after = 100_000
    argv = ["upload", "--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", eas[1]]
    assert main([*argv, "--oss", "oss://models/easlab", str(archive)]) == 1
    text = err.getvalue()
    assert "\r[OK] Uploading" in text  # a bar was drawn before the cut
    error = text.index("easlab upload: error:")
    assert text[error - 1] == "\n", repr(text[-400:])


def test_a_model_past_the_multipart_size_goes_up_in_parts(eas, oss, pai, monkeypatch, tmp_path):
    """One PutObject takes at most 5 GB: a larger model goes up in parts. Here the size
    from which parts are used is made small (a test cannot write 5 GB)."""
    from easlab.cloud import upload

    monkeypatch.setattr(upload, "MULTIPART_FROM", 100 * 1024)
    model = tmp_path / "model.onnx"
    data = bytes(range(256)) * 1400  # 350 KiB: four parts
    model.write_bytes(data)
    seen: list[tuple[int, int]] = []
    pai.upload_progress = lambda u, sent, total: seen.append((sent, total))
    spec = {
        "name": "big",
        "processor": "onnx",
        "model_path": str(model),
        "metadata": {"instance": 1},
    }
    pai.create(spec, wait=False)
    [(bucket, key, parts)] = oss[0].completed
    assert parts == 4 and oss[0].objects[(bucket, key)] == data
    assert oss[0].puts == [] and oss[0].multipart == {}  # no single PutObject, none left open
    assert seen[-1] == (len(data), len(data))
    created = json.loads(eas[0].services["big"]["ServiceConfig"])
    assert created["model_path"] == f"oss://{bucket}/{key}"


def test_a_create_refused_after_its_upload_says_what_oss_keeps(eas, oss, pai, tmp_path):
    """EAS refuses the CreateService (a quota: metadata.instance over it) after the model
    went up: the error says which objects are on OSS, and a create run again sends none."""
    model, spec = _folders(tmp_path)
    eas[0].refuse = (400, "QuotaExceeded", "The quota of instances is exceeded (max 10)")
    eas[0].refuse_only = "CreateService"
    with pytest.raises(PaiError) as info:
        pai.create(spec, wait=False)
    keys = sorted(f"oss://{b}/{k}" for b, k in oss[0].objects)
    assert len(keys) == 2 and "metadata.instance" in info.value.hint
    for uri in keys:
        assert uri in info.value.hint
    assert "model_path oss://" in info.value.hint and "(uploaded now)" in info.value.hint
    assert "does not send them again" in str(info.value)
    eas[0].refuse = None
    puts = len(oss[0].puts)
    pai.create(spec, wait=False)
    assert len(oss[0].puts) == puts  # what the hint said: nothing sent twice
