"""``logs -n N --target pai`` gives the last N lines, and the upload progress suits where
stderr goes. Against the tests' EAS and OSS STAND-INS (tests/cloud/*_standin.py)."""

from __future__ import annotations

import io

import pytest

import easlab.ops as ops
from easlab.cloud import progress
from easlab.cloud.upload import Upload

SPEC = {
    "name": "d5",
    "processor": "pmml",
    "model_path": "oss://models/m.pmml",
    "oss_endpoint": "oss-cn-hangzhou-internal.aliyuncs.com",
    "metadata": {"instance": 1},
}


@pytest.mark.parametrize(
    "n, first, count",
    [
        (3, 117, 3),  # the last of 40 full pages
        (50, 70, 50),  # the last page has 20: the one before gives the other 30
        (60, 60, 60),  # two full pages
        (100, 20, 100),  # page 2 has 20: page 1 (already fetched) the rest
        (200, 0, 120),  # one page holds the whole log
        (0, 0, 120),  # 0: up to 500
    ],
)
def test_logs_are_the_last_n_lines(eas, pai, n, first, count):
    ops.create(SPEC, kernel=pai, timeout=10)
    lines = ops.logs("d5", n, kernel=pai)
    assert lines == [f"[d5] log line {i}" for i in range(first, first + count)]
    asked = [r.query for r in eas[0].requests if r.action == "DescribeServiceLog"]
    assert len(asked) <= 3


def _upload(existed: bool | None = None) -> Upload:
    return Upload(
        "model_path",
        "/tmp/m.tar.gz",
        "models",
        "easlab/0123456789abcdef/m.tar.gz",
        10_000,
        "0123456789abcdef" * 4,
        "/tmp/m.tar.gz",
        existed=existed,
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_not_on_a_terminal_is_a_start_and_an_end_line(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    upload = _upload()
    for sent in range(0, 10_001, 100):  # about what the OSS SDK calls back for a file
        progress.print_upload_progress(upload, sent, 10_000)
    lines = err.getvalue().splitlines()
    assert lines == [
        f"[OK] Uploading {upload.uri} (9.8 KiB) ...",
        f"[OK] Uploaded {upload.uri}",
    ]
    assert "\r" not in err.getvalue()


def test_progress_on_a_terminal_redraws_one_line(monkeypatch):
    err = _Terminal()
    monkeypatch.setattr("sys.stderr", err)
    upload = _upload()
    for sent in (0, 5_000, 10_000):
        progress.print_upload_progress(upload, sent, 10_000)
    text = err.getvalue()
    assert text.count("\r") == 3 and text.count("\n") == 1 and "100%" in text


def test_an_object_already_there_is_said_so(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    upload = _upload(existed=True)
    progress.print_upload_progress(upload, upload.size, upload.size)
    assert err.getvalue() == (
        f"[OK] Already on OSS, not uploaded again: {upload.uri} (same content: sha256 "
        "0123456789abcdef)\n"
    )


def test_a_repeated_upload_says_it_was_already_there(eas, oss, monkeypatch, capsys, tmp_path):
    from easlab.cli import main

    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    archive = tmp_path / "demo.tar.gz"
    archive.write_bytes(b"bytes all the same" * 100)
    argv = ["upload", "--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", eas[1]]
    argv += ["--oss", "oss://models/easlab", str(archive)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "[OK] Uploading oss://models/easlab/" in err and "Already on OSS" not in err
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "Already on OSS, not uploaded again: oss://models/easlab/" in err
    assert "Uploading" not in err and len(oss[0].puts) == 1
