"""``pysdk pack``: ``DIR.tar.gz`` whose root holds ``ENV/`` and the code (the manual's rule).

Reproducible: the same folder gives the same bytes (entries sorted, mtimes, owners and
the gzip header fixed), so content-hash caches (the kernel's archive cache, the OSS
upload keys) recognise an unchanged package.
"""

from __future__ import annotations

import gzip
import os
import sys
import tarfile
from pathlib import Path

__all__ = ["pack_project", "env_portability", "EXCLUDED"]

#: names never packed: caches and tool folders
EXCLUDED = frozenset(
    {
        "__pycache__",
        ".git",
        ".hg",
        ".svn",
        ".ipynb_checkpoints",
        ".DS_Store",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)
_SUFFIXES = (".pyc", ".pyo")
#: every entry's mtime (SOURCE_DATE_EPOCH when set, as reproducible builds do)
_MTIME = int(os.environ.get("SOURCE_DATE_EPOCH", "0") or 0)


def _entries(folder: Path, skip: Path | None) -> list[tuple[str, Path]]:
    """``(name in the archive, path)`` of everything to pack, sorted by name.

    A link to a folder elsewhere (``model -> /data/models/v2``, as model folders often
    are) is packed as the folder it names, as a link to a file elsewhere is packed as
    the file: the package must hold what the app opens. A link to a place inside the
    project stays a link.
    """
    out: list[tuple[str, Path]] = []
    root_real = folder.resolve()

    def walk(top: Path, prefix: str, chain: tuple[Path, ...]) -> None:
        for root, dirs, files in os.walk(top):
            here = Path(root)
            rel = here.relative_to(top).as_posix()
            base = "/".join(p for p in (prefix, "" if rel == "." else rel) if p)
            kept = []
            for d in sorted(dirs):
                if d in EXCLUDED:
                    continue
                path = here / d
                name = f"{base}/{d}" if base else d
                if path.is_symlink() and not _link_inside(path, root_real):
                    target = path.resolve()
                    if target in chain or root_real.is_relative_to(target):
                        raise ValueError(
                            f"{path} links to {os.readlink(path)}, a folder that holds the "
                            "project itself: packing it would never end; remove the link"
                        )
                    out.append((name, target))
                    walk(target, name, (*chain, target))
                    continue
                out.append((name, path))
                kept.append(d)
            dirs[:] = kept
            for file in sorted(files):
                if file in EXCLUDED or file.endswith(_SUFFIXES):
                    continue
                path = here / file
                if skip is not None and path.resolve() == skip:
                    continue
                out.append((f"{base}/{file}" if base else file, path))

    walk(folder, "", (root_real,))
    return sorted(out, key=lambda entry: entry[0])


def _link_inside(path: Path, folder: Path) -> bool:
    """Whether the link ``path`` is relative and names a place inside ``folder`` (kept
    as a link: it unpacks to the same place)."""
    link = os.readlink(path)
    if os.path.isabs(link):
        return False
    here = path.parent.resolve()
    # by its text: a link to another link of the project stays a link
    named = Path(os.path.normpath(here / link))
    return here.is_relative_to(folder) and named.is_relative_to(folder)


def _info(name: str, path: Path, folder: Path) -> tuple[tarfile.TarInfo, Path | None]:
    """The tar header for ``path`` packed as ``name``, and the file whose bytes follow
    it (None: none)."""
    info = tarfile.TarInfo(name)
    info.mtime = _MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if path.is_symlink():
        link = os.readlink(path)
        target = (path.parent / link).resolve()
        if _link_inside(path, folder.resolve()):
            info.type = tarfile.SYMTYPE
            info.linkname = link
            info.mode = 0o777
            return info, None
        if not target.exists():
            env_hint = (
                ", or recreate ENV with `easlab pysdk init DIR --force` (copies, not links)"
                if name.split("/")[0] == "ENV"
                else ""
            )
            raise ValueError(
                f"{path} links to {link}, which does not exist: the package must hold what "
                f"it needs: copy the file in, or remove the link{env_hint}"
            )
        path = target  # a link to a file elsewhere: pack the file itself
    st = path.stat()
    if path.is_dir():
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        return info, None
    info.mode = 0o755 if st.st_mode & 0o111 else 0o644
    info.size = st.st_size
    return info, path


def pack_project(
    folder: Path, output: Path | None = None, progress: bool = False
) -> tuple[Path, int]:
    """Pack ``folder`` into ``output`` (default ``<folder>.tar.gz`` beside it); its size."""
    from easlab.errors import SpecError
    from easlab.kernel.packaged_env import check_python, package_python

    folder = folder.resolve()
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    python = package_python(folder)
    if python is None:
        raise ValueError(
            f"{folder} has no ENV/bin/python: the package's root must hold ENV "
            f"(create it with `easlab pysdk init {folder} --force`, which keeps your "
            "app.py and app.json)"
        )
    try:
        check_python(python)
    except SpecError as exc:
        raise ValueError(exc.message) from None
    _check_entry(folder)
    archive = (output or folder.parent / f"{folder.name}.tar.gz").resolve()
    entries = _entries(folder, archive)
    headers = [_info(name, path, folder) for name, path in entries]
    total = sum(info.size for info, _ in headers)
    tmp = archive.with_name(f".{archive.name}.{os.getpid()}.tmp")
    done = 0
    try:
        with open(tmp, "wb") as raw:
            # mtime=0 and no file name in the gzip header: same input, same bytes
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    for info, source in headers:
                        if source is None:
                            tar.addfile(info)
                            continue
                        with open(source, "rb") as body:
                            tar.addfile(info, body)
                        done += info.size
                        if progress:
                            _bar(done, total)
        os.replace(tmp, archive)
    finally:
        tmp.unlink(missing_ok=True)
    if progress:
        print(file=sys.stderr)
    return archive, archive.stat().st_size


def _check_entry(folder: Path) -> None:
    """Refuse a package without the file its service runs: ``processor_entry`` of the
    project's app.json (``pysdk init`` writes ``./app.py``), else app.py."""
    import json

    spec = folder / "app.json"
    entry, where = "app.py", f"{folder} has no app.json naming processor_entry"
    try:
        named = json.loads(spec.read_text()).get("processor_entry")
    except (OSError, ValueError, AttributeError):
        named = None
    if isinstance(named, str) and named.strip():
        entry, where = named.strip(), f"processor_entry in {spec} is {named!r}"
    if not (folder / entry).is_file():
        raise ValueError(
            f"{folder} has no {entry} ({where}): the package must hold the file the service "
            f"runs. Write it there (`easlab pysdk init {folder} --force` adds the template "
            "app.py), or set processor_entry in app.json to your file's path in the folder"
        )


def env_portability(folder: Path) -> str | None:
    """Why the package's ENV would not start on PAI-EAS (a virtualenv tied to this
    machine's interpreter), or None. The local kernel runs it all the same."""
    from easlab.cloud.portability import env_problem

    cfg = folder / "ENV" / "pyvenv.cfg"
    if not cfg.is_file():
        return None
    _, message = env_problem(cfg.read_text(errors="replace"))
    return message


def _bar(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    percent = 100 * done // total if total else 100
    sys.stderr.write(f"\r[PYSDK] packing [{'#' * filled}{'.' * (width - filled)}] {percent:3d}%")
    sys.stderr.flush()
