"""Local ``model_path``/``processor_path`` → OSS objects under content-hash keys.

A folder is packed as a deterministic ``.tar.gz`` (sorted entries, zero
mtimes and owners), a file (a model or an archive) is sent as it is; the key
is ``<prefix>/<sha256[:16]>/<name>``, so an unchanged model maps to the same
key and is not uploaded twice. Uploads go through the official
``alibabacloud-oss-v2`` SDK with the standard credential chain.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import re
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from easlab.cloud.errors import PaiError, PaiSetupError
from easlab.cloud.portability import is_local_path, local_path, missing_local_path
from easlab.errors import SpecError

__all__ = ["OssLocation", "Upload", "cleanup", "plan_uploads", "perform_uploads", "parse_oss"]

_PATH_FIELDS = ("model_path", "processor_path")
#: files from this size up are sent to OSS in parts of this size (one PutObject takes at
#: most 5 GB; parts also let a large model go up three parts at a time)
MULTIPART_FROM = 64 * 1024 * 1024
#: progress(upload, bytes sent so far, total)
UploadProgress = Callable[["Upload", int, int], None]


@dataclass(frozen=True)
class OssLocation:
    """``oss://bucket/prefix``."""

    bucket: str
    prefix: str

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p.strip("/"))


#: OSS's bucket naming rule: 3-63 lowercase letters, digits and hyphens, no hyphen at an end
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def parse_oss(uri: str) -> OssLocation:
    """``oss://bucket/some/prefix`` → ``OssLocation("bucket", "some/prefix")``.

    A bucket name OSS does not allow is refused here, before anything is packed or sent
    (OSS would answer with an error about the request, not the name).
    """
    text = uri.strip()
    parts = urlsplit(text)
    if parts.scheme != "oss" or not parts.netloc:
        meant = (
            f"; did you mean oss://{text.lstrip('/')}?"
            if not parts.scheme and text.strip("/")
            else ""
        )
        raise ValueError(f"--oss takes oss://bucket[/prefix], got {uri!r}{meant}")
    if not _BUCKET.match(parts.netloc):
        raise ValueError(
            f"--oss {uri!r}: {parts.netloc!r} is not an OSS bucket name (3-63 lowercase "
            "letters, digits and hyphens, starting and ending with a letter or digit)"
        )
    return OssLocation(parts.netloc, parts.path.strip("/"))


@dataclass
class Upload:
    """One local path and the OSS object it becomes."""

    field: str
    local: str
    bucket: str
    key: str
    size: int
    sha256: str
    #: the bytes to send (a packed folder lives in a temporary file until sent)
    source: str
    #: None: not checked yet; True: already on OSS (skipped); False: sent
    existed: bool | None = None
    #: ``source`` is a temporary archive of a folder (removed by ``cleanup``)
    packed: bool = False

    @property
    def uri(self) -> str:
        return f"oss://{self.bucket}/{self.key}"

    def line(self) -> str:
        state = {None: "would upload", True: "unchanged, not uploaded", False: "uploaded"}
        return (
            f"{self.field}: {self.local} -> {self.uri} ({_size(self.size)}, "
            f"sha256 {self.sha256[:16]}): {state[self.existed]}"
        )


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _pack_folder(folder: Path) -> str:
    """A reproducible .tar.gz of ``folder``'s contents (the same bytes for the same files)."""
    fd, path = tempfile.mkstemp(suffix=".tar.gz", prefix="easlab-pack-")
    os.close(fd)
    try:
        with open(path, "wb") as raw:
            # gzip's header carries a timestamp and a file name: both fixed
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    for file in sorted(p for p in folder.rglob("*")):
                        if "__pycache__" in file.parts:
                            continue
                        info = tar.gettarinfo(str(file), arcname=str(file.relative_to(folder)))
                        if info is None:  # a socket: no archive holds one, and no model is one
                            continue
                        info.mtime = 0
                        info.uid = info.gid = 0
                        info.uname = info.gname = ""
                        if file.is_file():
                            with open(file, "rb") as fh:
                                tar.addfile(info, fh)
                        elif file.is_dir():
                            tar.addfile(info)
    except BaseException:  # a full disk, an unreadable file: no half archive left behind
        Path(path).unlink(missing_ok=True)
        raise
    return path


def _digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def plan_uploads(
    spec: dict[str, Any],
    oss: OssLocation,
    base_dir: Path | None,
    oss_endpoint: str,
) -> tuple[dict[str, Any], list[Upload]]:
    """The service.json EAS gets (local paths → oss:// URLs, ``oss_endpoint`` set) and the uploads.

    Nothing is sent; folders are packed to temporary files to know their hash.
    """
    out = dict(spec)
    uploads: list[Upload] = []
    for key in _PATH_FIELDS:
        value = spec.get(key)
        if not is_local_path(value):
            continue
        missing = missing_local_path(str(value), base_dir)
        if missing:
            raise SpecError(key, missing)
        path = local_path(str(value), base_dir)
        packed = path.is_dir()
        source, name = str(path), path.name
        try:
            if packed:
                source, name = _pack_folder(path), f"{path.name or 'folder'}.tar.gz"
            digest, size = _digest(source), os.path.getsize(source)
        except OSError as exc:
            cleanup(uploads)
            raise SpecError(key, _unreadable(value, path, packed, exc)) from None
        upload = Upload(
            key,
            str(path),
            oss.bucket,
            oss.key(digest[:16], name),
            size,
            digest,
            source,
            packed=packed,
        )
        uploads.append(upload)
        out[key] = upload.uri
    if uploads and not out.get("oss_endpoint"):
        out["oss_endpoint"] = oss_endpoint
    return out, uploads


def _unreadable(value: Any, path: Path, packed: bool, exc: OSError) -> str:
    """Why a local path could not be read or packed, and what to do about it."""
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    text = f"{value!r} could not be {'packed' if packed else 'read'}: {exc.strerror or exc}{where}"
    if packed and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"{text}; a folder is packed into {tempfile.gettempdir()} before the upload: "
            "free space there or set TMPDIR to a disk with room, or upload an archive of it "
            "(.tar.gz) and name that"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{text}; give this user read access to it"
    return text


def oss_client(region: str, endpoint: str | None, credentials: Any) -> Any:
    """An ``alibabacloud_oss_v2.Client`` for ``region`` (``endpoint``: host[:port] override;
    plain http only for loopback, as for the EAS endpoint)."""
    try:
        import alibabacloud_oss_v2 as oss
    except ImportError:
        raise PaiSetupError(
            "uploading to OSS needs the OSS SDK: pip install 'easlab[pai]'"
        ) from None
    from easlab.cloud.endpoint import resolve_endpoint

    cfg = oss.config.load_default()
    cfg.credentials_provider = credentials
    cfg.region = region
    if endpoint:
        scheme, host = resolve_endpoint(endpoint, what="OSS endpoint")
        cfg.endpoint = host
        if scheme == "http":
            cfg.disable_ssl = True
            cfg.use_path_style = True  # a loopback host has no bucket subdomains
    return oss.Client(cfg)


def perform_uploads(
    uploads: list[Upload], client: Any, progress: UploadProgress | None = None
) -> None:
    """Send each upload unless an object with its content-hash key is there already."""
    import alibabacloud_oss_v2 as oss

    for upload in uploads:
        try:
            upload.existed = bool(client.is_object_exist(upload.bucket, upload.key))
            if upload.existed:
                continue
            # one PutObject takes at most 5 GB: from MULTIPART_FROM up the uploader sends
            # parts (a model of many GB); below, one PutObject as before
            client.uploader(part_size=MULTIPART_FROM, parallel_num=3).upload_file(
                oss.PutObjectRequest(
                    bucket=upload.bucket,
                    key=upload.key,
                    progress_fn=(
                        (lambda n, sent, total, u=upload: progress(u, sent, total))
                        if progress
                        else None
                    ),
                ),
                filepath=upload.source,
            )
            upload.existed = False
        except PaiError:
            raise
        except Exception as error:
            exc = _detail(error)
            status = int(getattr(exc, "status_code", 0) or 0)
            code = str(getattr(exc, "code", "") or type(exc).__name__)
            message = str(getattr(exc, "message", "") or exc).splitlines()[0][:300].rstrip(".")
            raise PaiError(
                status,
                code,
                f"uploading {upload.local} to {upload.uri}: {message}",
                action="PutObject",
                request_id=getattr(exc, "request_id", None),
                hint=_failed_upload_hint(uploads, upload, code, status),
            ) from None


def _detail(error: Exception) -> Exception:
    """The OSS SDK's own error inside the uploader's wrapping (``UploadError.unwrap()``)."""
    unwrap = getattr(error, "unwrap", None)
    inner = unwrap() if callable(unwrap) else None
    return inner if isinstance(inner, Exception) and inner is not error else error


def _failed_upload_hint(uploads: list[Upload], failed: Upload, code: str, status: int) -> str:
    """What a failed upload left behind (nothing on EAS; the objects already on OSS) and
    what to do: the bucket's refusal, or a network that dropped the upload halfway."""
    low = code.lower()
    if low == "nosuchbucket":
        todo = (
            f"there is no bucket {failed.bucket} (or it is in another region): create it in "
            "the OSS console, or name another with --oss / $EASLAB_OSS"
        )
    elif status == 403 or low.startswith(("accessdenied", "invalidaccesskeyid", "signature")):
        todo = (
            f"these credentials may not write to the bucket {failed.bucket}: give their RAM "
            "user or role oss:PutObject and oss:GetObject on it (AliyunOSSFullAccess), or name "
            "another bucket with --oss"
        )
    else:
        todo = (
            "the upload did not finish (this machine's network, or the OSS endpoint when "
            "$EASLAB_OSS_ENDPOINT sets one): run the command again"
        )
    there = [u for u in uploads if u is not failed and u.existed is not None]
    kept = (
        f"; {', '.join(f'{u.field} ({u.uri})' for u in there)} is on OSS and is not sent again"
        if there
        else ""
    )
    return f"nothing was sent to EAS{kept}; {todo}"


def cleanup(uploads: list[Upload]) -> None:
    """Remove the temporary archives of packed folders."""
    for upload in uploads:
        if upload.packed:
            Path(upload.source).unlink(missing_ok=True)
