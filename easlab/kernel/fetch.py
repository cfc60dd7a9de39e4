"""Resolve ``model_path`` / ``processor_path`` to a local directory or file.

Accepted (SPEC §5): a local directory or file, ``file://`` URLs, local
archives (.tar.gz/.tgz/.tar/.bz2/.tar.bz2/.zip) extracted into the cache,
and http(s) URLs downloaded into the cache (keyed by content hash, then
extracted when they are archives). ``oss://`` needs the remote PAI-EAS target.
"""

from __future__ import annotations

import bz2
import functools
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse, urlsplit, urlunsplit

from easlab.errors import SpecError
from easlab.runtime import private_dir

__all__ = ["ARCHIVE_SUFFIXES", "is_archive", "packed_from", "resolve_path"]

Progress = Callable[[int, int | None], None]

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar", ".bz2", ".zip")
_CHUNK = 1 << 20
_DONE = ".easlab-complete"  # marker written last, so a half-extracted folder is never used


def is_archive(name: str) -> bool:
    """Whether a file name has one of the archive suffixes EAS accepts."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def check_location(
    location: str, base_dir: Path | None = None, *, field: str = "model_path"
) -> Path | None:
    """What ``resolve_path`` refuses before fetching anything (an OSS path, another
    scheme, a local path that is not there), as the same ``SpecError``; the local path
    (None for an http(s) URL). ``create --dry-run`` asks it too."""
    location = (location or "").strip()
    if not location:
        raise SpecError(field, "is empty: give a local folder, file, archive or http(s) URL")
    parsed = urlparse(location)
    scheme = parsed.scheme.lower()
    if scheme == "oss":
        raise SpecError(
            field,
            f"{location} is an OSS path, which only the remote PAI-EAS target can read. "
            "For the local kernel, download it first (e.g. `ossutil cp -r "
            f"{location} ./model`) and give the local path, or an http(s) URL of the file",
        )
    if scheme in ("http", "https"):
        return None
    path = _local_path(location, base_dir)
    if path is None:
        raise SpecError(
            field,
            f"{location}: the {scheme}:// scheme is not supported locally; give a local folder, "
            "file, archive or an http(s) URL",
        )
    if not path.exists():
        from easlab.spec import not_packed_yet

        anchor = (
            f" (relative to {base_dir or Path.cwd()})" if not Path(location).is_absolute() else ""
        )
        todo = not_packed_yet(path) or (
            "Give an existing local folder, file, archive (.tar.gz/.tar/.bz2/.zip) or an "
            "http(s) URL"
        )
        raise SpecError(field, f"{location}: no such file or directory: {path}{anchor}. {todo}")
    return path


def resolve_path(
    location: str,
    cache_dir: Path,
    base_dir: Path | None = None,
    progress: Progress | None = None,
    *,
    field: str = "model_path",
) -> Path:
    """Turn a ``model_path``/``processor_path`` value into a local directory or file.

    ``base_dir`` anchors relative paths (default: the current directory).
    Archives are extracted into ``cache_dir/<sha256 of archive>/`` (that folder
    is returned); other files and directories are returned as they are.
    ``progress(done, total)`` is called while downloading; with None, a text
    bar is drawn on stderr when it is a terminal. ``field`` names the
    service.json field in errors.
    """
    location = (location or "").strip()
    cache_dir = Path(cache_dir)
    path = check_location(location, base_dir, field=field)
    if path is None:
        return _resolve_url(location, cache_dir, progress, field)
    path = path.resolve()
    if path.is_file() and is_archive(path.name):
        return _extract_cached(path, sha256_file(path), cache_dir, field)
    return path


def _local_path(location: str, base_dir: Path | None) -> Path | None:
    """``location`` (a path or ``file://`` URL) as a local path, relative ones anchored at
    ``base_dir`` (default: the current directory); None for another URL scheme."""
    parsed = urlparse(location)
    scheme = parsed.scheme.lower()
    if scheme == "file":
        path = Path(
            unquote(parsed.netloc + parsed.path)
            if parsed.netloc not in ("", "localhost")
            else unquote(parsed.path)
        )
    elif scheme and len(scheme) > 1:  # one letter would be a Windows drive
        return None
    else:
        path = Path(location).expanduser()
    return path if path.is_absolute() else (base_dir or Path.cwd()) / path


def packed_from(location: str, base_dir: Path | None = None) -> list[Path]:
    """The folders a local archive (``processor_path``) was likely packed from, for the
    tracebacks of the copy extracted into the cache (worker.py ``own_file``).

    ``easlab pysdk pack DIR`` writes ``DIR.tar.gz`` beside DIR, and the app.json it made
    in DIR names ``../DIR.tar.gz``: the archive's namesake folder, and the service.json's
    own folder. Only those that exist; none for a URL or a file that is no archive.
    """
    archive = _local_path(location.strip(), base_dir)
    if archive is None or not is_archive(archive.name):
        return []
    name = archive.name
    stem = name[: -len(next(s for s in ARCHIVE_SUFFIXES if name.lower().endswith(s)))]
    found: list[Path] = []
    for folder in (archive.parent / stem, base_dir):
        if folder is not None and folder.is_dir() and folder.resolve() not in found:
            found.append(folder.resolve())
    return found


# ------------------------------------------------------------------------- local files

#: a local folder of more files than this gets no fingerprint: its changes go unseen
FINGERPRINT_MAX_FILES = 10_000
#: files up to this many bytes in all are told by their contents; more by their sizes and
#: modification times (reading gigabytes on every create of the same cell would be slow)
FINGERPRINT_MAX_BYTES = 256 << 20
#: what importing or opening a model folder writes into it, not a change of the model
_NOT_THE_MODEL = frozenset({"__pycache__", ".ipynb_checkpoints"})


def local_fingerprint(path: Path) -> str | None:
    """What the files at a local ``path`` (a file, or a folder's tree) are now: a digest
    of each one's relative path, size and contents (or modification time, past
    ``FINGERPRINT_MAX_BYTES`` in all). A model saved again to the same path is told by
    it from the one a version's instances loaded (they load a local model from where it
    lies: control.py ``_files_changed``); the same bytes saved again (a notebook's Run
    All retraining with the same seed) are the same model. None when nothing is there,
    or too many files to walk on each check."""
    files: list[tuple[str, Path, os.stat_result]] = []
    try:
        if path.is_file():
            files.append(("", path, path.stat()))
        elif path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = [d for d in dirs if d not in _NOT_THE_MODEL]
                for name in names:
                    file = Path(root, name)
                    # a symlink's target: what the runtime reads
                    files.append((file.relative_to(path).as_posix(), file, file.stat()))
                if len(files) > FINGERPRINT_MAX_FILES:
                    return None
        else:
            return None
        by_contents = sum(stat.st_size for _, _, stat in files) <= FINGERPRINT_MAX_BYTES
        entries = [
            (
                rel,
                stat.st_size,
                _sha256_of(str(file.resolve()), stat.st_size, stat.st_mtime_ns)
                if by_contents
                else stat.st_mtime_ns,
            )
            for rel, file, stat in files
        ]
    except OSError:
        return None
    return hashlib.sha256(repr(sorted(entries)).encode()).hexdigest()


# ----------------------------------------------------------------------------- archives


def sha256_file(path: Path) -> str:
    """The archive's sha256 hex (its cache folder's name). Read once per version of the
    file: a modify's repack check (control.py) and the fetch that follows ask for the
    same archive, which may be gigabytes."""
    stat = path.stat()
    return _sha256_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, _size: int, _mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _extract_cached(archive: Path, sha: str, cache_dir: Path, field: str) -> Path:
    target = cache_dir / sha
    if (target / _DONE).exists():
        return target
    private_dir(cache_dir)  # urls.json holds presigned URLs: bearer credentials
    work = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=cache_dir))
    try:
        _extract(archive, work, field)
        (work / _DONE).write_text(archive.name)
        try:
            work.rename(target)
        except OSError:
            # another process finished the same archive first: use theirs
            if not (target / _DONE).exists():
                shutil.rmtree(target, ignore_errors=True)
                work.rename(target)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target


def _safe_member(name: str) -> bool:
    """No absolute paths, drive letters or '..' components (path traversal)."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return False
    return ".." not in PurePosixPath(posix).parts


def _unsafe(archive: Path, member: str, why: str, field: str) -> SpecError:
    return SpecError(
        field,
        f"archive {archive.name} contains an unsafe member {member!r} ({why}); refusing to "
        "extract it. Rebuild the archive with relative paths inside one folder",
    )


def _extract(archive: Path, dest: Path, field: str) -> None:
    name = archive.name.lower()
    try:
        if name.endswith(".zip"):
            _extract_zip(archive, dest, field)
        elif name.endswith(".bz2") and not name.endswith((".tar.bz2",)) and not _is_tar(archive):
            # a bare .bz2 of one file (not a tarball): decompress it beside
            out = dest / archive.name[: -len(".bz2")]
            with bz2.open(archive, "rb") as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
        else:
            _extract_tar(archive, dest, field)
    except SpecError:
        raise
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise SpecError(
            field, f"cannot extract {archive}: {exc}. Check that it is a valid archive"
        ) from None


def _is_tar(archive: Path) -> bool:
    try:
        return tarfile.is_tarfile(archive)
    except OSError:
        return False


def _extract_tar(archive: Path, dest: Path, field: str) -> None:
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            if not _safe_member(member.name):
                raise _unsafe(archive, member.name, "absolute path or '..'", field)
            if member.issym() or member.islnk():
                link = member.linkname
                base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
                if not _safe_member(str(base / link)) or link.startswith("/"):
                    raise _unsafe(
                        archive, member.name, f"link to {link!r} outside the archive", field
                    )
            elif not (member.isfile() or member.isdir()):
                raise _unsafe(archive, member.name, "device or fifo", field)
        # the "data" filter (PEP 706) re-checks all of the above in the stdlib
        tar.extractall(dest, members=members, filter="data")


def _extract_zip(archive: Path, dest: Path, field: str) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if not _safe_member(info.filename):
                raise _unsafe(archive, info.filename, "absolute path or '..'", field)
        root = dest.resolve()
        for info in zf.infolist():
            out = (dest / info.filename).resolve()
            if root not in out.parents and out != root:
                raise _unsafe(archive, info.filename, "outside the target folder", field)
        zf.extractall(dest)


# ----------------------------------------------------------------------------- downloads


def _url_filename(url: str, disposition: str | None) -> str:
    if disposition and "filename=" in disposition:
        name = disposition.split("filename=", 1)[1].split(";", 1)[0].strip().strip('"')
        name = os.path.basename(unquote(name))
        if name:
            return name
    # EAS examples escape folders in the object key (models%2Fmnist.tar.gz)
    name = os.path.basename(unquote(urlparse(url).path))
    return name or "download"


def _index_path(cache_dir: Path) -> Path:
    return cache_dir / "urls.json"


def _read_index(cache_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads(_index_path(cache_dir).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_index(cache_dir: Path, url: str, entry: dict[str, Any]) -> None:
    """Add ``url`` to the index, atomically. The index keys are whole URLs, a presigned
    one's signature included: it is created 0600 (mkstemp) from its first byte, never
    made with the umask's mode and tightened after."""
    index = _read_index(cache_dir)
    index[url] = entry
    fd, tmp = tempfile.mkstemp(prefix=".urls-", suffix=".tmp", dir=cache_dir)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(index, indent=1))
        os.replace(tmp, _index_path(cache_dir))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cached_result(cache_dir: Path, entry: dict[str, Any]) -> Path | None:
    result = cache_dir / entry.get("result", "\0")
    if entry.get("result") and result.exists() and (cache_dir / entry["sha256"] / _DONE).exists():
        return result
    return None


def _shown_url(url: str) -> str:
    """``url`` as messages show it: without its query and any ``user:password@``. A
    presigned OSS or S3 URL carries its signature in the query, a bearer credential
    that must not reach a notebook's saved output or a log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "..." if parts.query else "", ""))


def _without_query(exc: BaseException, url: str) -> str:
    """``exc``'s text (requests names the URL it failed on) without ``url``'s query."""
    text = str(exc)
    query = urlsplit(url).query
    return text.replace(query, "...") if query else text


def _resolve_url(url: str, cache_dir: Path, progress: Progress | None, field: str) -> Path:
    import requests

    private_dir(cache_dir)  # urls.json holds presigned URLs: bearer credentials
    entry = _read_index(cache_dir).get(url) or {}
    cached = _cached_result(cache_dir, entry) if entry else None
    headers = {}
    if cached is not None:
        # a conditional GET: a 304 reuses the cached copy without a download
        if entry.get("etag"):
            headers["If-None-Match"] = entry["etag"]
        if entry.get("last_modified"):
            headers["If-Modified-Since"] = entry["last_modified"]
    try:
        resp = requests.get(url, headers=headers, stream=True, timeout=(10, 60))
    except requests.RequestException as exc:
        if cached is not None:
            return cached  # offline: the cached copy is the best we have
        raise SpecError(
            field, f"cannot download {_shown_url(url)}: {_without_query(exc, url)}"
        ) from None
    with resp:
        if resp.status_code == 304 and cached is not None:
            return cached
        if resp.status_code != 200:
            raise SpecError(
                field,
                f"cannot download {_shown_url(url)}: HTTP {resp.status_code} {resp.reason}. "
                "Check the URL, or download the file and give its local path",
            )
        filename = _url_filename(url, resp.headers.get("Content-Disposition"))
        total_text = resp.headers.get("Content-Length")
        total = int(total_text) if total_text and total_text.isdigit() else None
        report = progress or (_TextBar(filename) if sys.stderr.isatty() else None)
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(prefix=".download-", dir=cache_dir)
        tmp = Path(tmp_name)
        done = 0
        try:
            with os.fdopen(fd, "wb") as out:
                if report:
                    report(0, total)
                for chunk in resp.iter_content(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if report:
                        report(done, total)
            if total is not None and done != total:
                raise SpecError(
                    field,
                    f"download of {_shown_url(url)} was cut short: {done} of {total} bytes; "
                    "try again",
                )
            sha = digest.hexdigest()
            if is_archive(filename):
                archive = cache_dir / "archives" / f"{sha}-{filename}"
                archive.parent.mkdir(mode=0o700, exist_ok=True)
                os.replace(tmp, archive)
                result = _extract_cached(archive, sha, cache_dir, field)
            else:
                folder = cache_dir / sha
                folder.mkdir(mode=0o700, exist_ok=True)
                os.replace(tmp, folder / filename)
                (folder / _DONE).write_text(filename)
                result = folder / filename
        except requests.RequestException as exc:
            raise SpecError(
                field, f"download of {_shown_url(url)} failed: {_without_query(exc, url)}"
            ) from None
        finally:
            if isinstance(report, _TextBar):
                report.finish()
            tmp.unlink(missing_ok=True)
    _write_index(
        cache_dir,
        url,
        {
            "sha256": sha,
            "result": str(result.relative_to(cache_dir)),
            "etag": resp.headers.get("ETag"),
            "last_modified": resp.headers.get("Last-Modified"),
            "size": done,
        },
    )
    return result


class _TextBar:
    """A one-line progress bar on stderr: ``model.tar.gz  42% 12.0/28.5 MB``."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and done != total:
            return
        self.last = now
        mb = done / 1e6
        if total:
            width = 30
            filled = int(width * done / total)
            line = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {100 * done // total:3d}% {mb:.1f}/{total / 1e6:.1f} MB"
        else:
            line = f"{self.label} {mb:.1f} MB"
        sys.stderr.write("\r" + line)
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()
