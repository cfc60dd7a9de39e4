"""model_path / processor_path resolution: folders, files, archives, http(s), oss://."""

from __future__ import annotations

import bz2
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from easlab.errors import SpecError
from easlab.kernel.fetch import resolve_path


def make_model_dir(root: Path) -> Path:
    model = root / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"pb")
    (model / "variables" / "v.data").write_bytes(b"v" * 10)
    return model


def test_local_directory_and_file_relative_to_base(tmp_path: Path):
    model = make_model_dir(tmp_path)
    cache = tmp_path / "cache"
    assert resolve_path("model", cache, base_dir=tmp_path) == model.resolve()
    assert (
        resolve_path(str(model / "saved_model.pb"), cache) == (model / "saved_model.pb").resolve()
    )
    assert resolve_path(f"file://{model}", cache) == model.resolve()
    assert not cache.exists()  # plain paths are never copied


def test_missing_path_names_field_and_path(tmp_path: Path):
    with pytest.raises(SpecError) as info:
        resolve_path("nope/model.pt", tmp_path / "c", base_dir=tmp_path, field="processor_path")
    assert info.value.field == "processor_path"
    assert str(tmp_path / "nope" / "model.pt") in info.value.message


def test_oss_path_explains_the_remote_target(tmp_path: Path):
    with pytest.raises(SpecError) as info:
        resolve_path("oss://bucket/models/m.tar.gz", tmp_path)
    assert info.value.field == "model_path"
    assert "remote PAI-EAS" in info.value.message and "local path" in info.value.message


def test_unknown_scheme_is_refused(tmp_path: Path):
    with pytest.raises(SpecError, match="s3:// scheme is not supported"):
        resolve_path("s3://bucket/m", tmp_path)


@pytest.mark.parametrize(
    "suffix, mode",
    [
        (".tar.gz", "w:gz"),
        (".tgz", "w:gz"),
        (".tar", "w"),
        (".tar.bz2", "w:bz2"),
        (".bz2", "w:bz2"),
    ],
)
def test_tar_archives_are_extracted_into_the_cache(tmp_path: Path, suffix: str, mode: str):
    model = make_model_dir(tmp_path)
    archive = tmp_path / f"model{suffix}"
    with tarfile.open(archive, mode) as tar:
        tar.add(model, arcname="model")
    cache = tmp_path / "cache"
    out = resolve_path(str(archive), cache)
    assert out.parent == cache and len(out.name) == 64  # cache/<sha256>
    assert (out / "model" / "variables" / "v.data").read_bytes() == b"v" * 10
    mtime = (out / "model" / "saved_model.pb").stat().st_mtime_ns
    assert resolve_path(str(archive), cache) == out  # second call: cache hit, no re-extract
    assert (out / "model" / "saved_model.pb").stat().st_mtime_ns == mtime


def test_bare_bz2_file_is_decompressed(tmp_path: Path):
    archive = tmp_path / "lr.pmml.bz2"
    archive.write_bytes(bz2.compress(b"<PMML/>"))
    out = resolve_path(str(archive), tmp_path / "cache")
    assert (out / "lr.pmml").read_bytes() == b"<PMML/>"


def test_zip_archive(tmp_path: Path):
    archive = tmp_path / "app.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("app.py", "print('hi')\n")
        zf.writestr("lib/util.py", "X = 1\n")
    out = resolve_path(str(archive), tmp_path / "cache", field="processor_path")
    assert (out / "app.py").read_text() == "print('hi')\n"
    assert (out / "lib" / "util.py").exists()


def _tar_with(tmp_path: Path, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return archive


@pytest.mark.parametrize("name", ["../escape.txt", "/abs/escape.txt", "a/../../escape.txt"])
def test_tar_path_traversal_is_refused(tmp_path: Path, name: str):
    info = tarfile.TarInfo(name)
    info.size = 1
    archive = _tar_with(tmp_path, info)
    cache = tmp_path / "cache"
    with pytest.raises(SpecError, match="unsafe member"):
        resolve_path(str(archive), cache)
    assert not (tmp_path / "escape.txt").exists()
    assert not any(p.name == "escape.txt" for p in tmp_path.rglob("*"))
    assert not [p for p in cache.iterdir() if p.is_dir()]  # nothing half-extracted is kept


def test_tar_symlink_out_of_the_archive_is_refused(tmp_path: Path):
    info = tarfile.TarInfo("model/link")
    info.type = tarfile.SYMTYPE
    info.linkname = "../../../etc/passwd"
    with pytest.raises(SpecError, match="link to"):
        resolve_path(str(_tar_with(tmp_path, info)), tmp_path / "cache")


def test_zip_path_traversal_is_refused(tmp_path: Path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escape.txt", "x")
    with pytest.raises(SpecError, match="unsafe member '../../escape.txt'"):
        resolve_path(str(archive), tmp_path / "cache")


def test_corrupt_archive_says_so(tmp_path: Path):
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(b"not a tarball at all")
    with pytest.raises(SpecError, match="cannot extract .*broken.tar.gz"):
        resolve_path(str(archive), tmp_path / "cache")


class _Counting(http.server.SimpleHTTPRequestHandler):
    log: list[tuple[str, int]] = []

    def log_request(self, code="-", size="-"):  # record instead of printing
        type(self).log.append((self.path, int(code) if str(code).isdigit() else 0))


@pytest.fixture
def file_server(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()
    _Counting.log = []

    def handler(*args, **kwargs):
        return _Counting(*args, directory=str(root), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_http_archive_is_downloaded_extracted_and_cached(tmp_path: Path, file_server):
    root, base = file_server
    model = make_model_dir(tmp_path)
    with tarfile.open(root / "model.tar.gz", "w:gz") as tar:
        tar.add(model, arcname="model")
    size = (root / "model.tar.gz").stat().st_size
    calls: list[tuple[int, int | None]] = []
    cache = tmp_path / "cache"
    out = resolve_path(f"{base}/model.tar.gz", cache, progress=lambda d, t: calls.append((d, t)))
    assert (out / "model" / "saved_model.pb").read_bytes() == b"pb"
    assert calls[0] == (0, size) and calls[-1] == (size, size)
    assert _Counting.log == [("/model.tar.gz", 200)]

    calls.clear()
    again = resolve_path(f"{base}/model.tar.gz", cache, progress=lambda d, t: calls.append((d, t)))
    assert again == out
    assert calls == []  # no second download
    assert _Counting.log[-1] == ("/model.tar.gz", 304)


def test_http_plain_file_keeps_its_name(tmp_path: Path, file_server):
    root, base = file_server
    (root / "demo").mkdir()
    (root / "demo" / "service.py").write_text("X = 1\n")
    # EAS examples escape folders in object keys (demo%2Fservice.py)
    out = resolve_path(f"{base}/demo%2Fservice.py", tmp_path / "cache", progress=lambda d, t: None)
    assert out.name == "service.py" and out.read_text() == "X = 1\n"


def test_http_error_names_status_and_url(tmp_path: Path, file_server):
    _, base = file_server
    with pytest.raises(SpecError) as info:
        resolve_path(f"{base}/missing.tar.gz", tmp_path / "cache", field="processor_path")
    assert info.value.field == "processor_path"
    assert "HTTP 404" in info.value.message and "missing.tar.gz" in info.value.message


def test_unreachable_url_is_a_spec_error(tmp_path: Path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SpecError, match="cannot download"):
        resolve_path(f"http://127.0.0.1:{port}/m.tar.gz", tmp_path / "cache")


def test_an_archive_is_hashed_once_per_version_of_the_file(tmp_path):
    from easlab.kernel import fetch

    archive = tmp_path / "demo.tar.gz"
    archive.write_bytes(b"one")
    first = fetch.sha256_file(archive)
    before = fetch._sha256_of.cache_info()
    assert fetch.sha256_file(archive) == first  # the repack check, then the fetch: one read
    assert fetch._sha256_of.cache_info().hits == before.hits + 1
    archive.write_bytes(b"two, repacked")  # another size and mtime: read again
    assert fetch.sha256_file(archive) == hashlib.sha256(b"two, repacked").hexdigest() != first


SIGNED = "?Expires=1700000000&OSSAccessKeyId=LTAIexample&Signature=c2VjcmV0JTJGc2ln"


def test_a_presigned_urls_signature_stays_out_of_the_messages(tmp_path: Path, file_server):
    # a presigned OSS URL's query is a bearer credential; the create error showed it,
    # and a notebook saves what a failed cell showed
    import socket

    _, base = file_server
    with pytest.raises(SpecError) as missing:
        resolve_path(f"{base}/missing.tar.gz{SIGNED}", tmp_path / "cache")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SpecError) as unreachable:
        resolve_path(f"http://user:pw@127.0.0.1:{port}/m.tar.gz{SIGNED}", tmp_path / "cache")
    for info in (missing, unreachable):
        message = info.value.message
        assert "Signature" not in message and "LTAIexample" not in message, message
        assert "pw@" not in message
        assert ".tar.gz?..." in message


def test_a_create_says_a_wrong_processor_path_before_downloading_the_model(
    kernel, tmp_path: Path, file_server
):
    # the model (of many GB, often) was downloaded first, then the create refused the typo
    root, base = file_server
    with tarfile.open(root / "model.tar.gz", "w:gz") as tar:
        tar.add(make_model_dir(tmp_path), arcname="model")
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text("import allspark\n")
    for where, field in ((tmp_path / "cdoe", "processor_path"), (code, "processor_entry")):
        spec = {
            "name": "fetch_order",
            "processor_type": "python",
            "processor_path": str(where),
            "processor_entry": "ap.py" if where == code else "app.py",
            "model_path": f"{base}/model.tar.gz",
            "metadata": {"instance": 1},
        }
        with pytest.raises(SpecError) as info:
            kernel.create(spec)
        assert field in str(info.value)
    assert _Counting.log == []  # nothing downloaded
