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


def _entries(folder: Path, skip: Path | None) -> list[Path]:
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED)
        here = Path(root)
        for d in dirs:
            out.append(here / d)
        for name in sorted(files):
            if name in EXCLUDED or name.endswith(_SUFFIXES):
                continue
            path = here / name
            if skip is not None and path.resolve() == skip:
                continue
            out.append(path)
    return sorted(out, key=lambda p: p.relative_to(folder).as_posix())


def _info(path: Path, folder: Path) -> tuple[tarfile.TarInfo, Path | None]:
    """The tar header for ``path`` and the file whose bytes follow it (None: none)."""
    name = path.relative_to(folder).as_posix()
    info = tarfile.TarInfo(name)
    info.mtime = _MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if path.is_symlink():
        link = os.readlink(path)
        target = (path.parent / link).resolve()
        inside = not os.path.isabs(link) and target.is_relative_to(folder.resolve())
        if inside:
            info.type = tarfile.SYMTYPE
            info.linkname = link
            info.mode = 0o777
            return info, None
        if not target.is_file():
            raise ValueError(
                f"{path} links to {link}, outside {folder}; the package must hold what it "
                "needs: copy it in, or recreate ENV with `easlab pysdk init` (copies, not links)"
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
    archive = (output or folder.parent / f"{folder.name}.tar.gz").resolve()
    entries = _entries(folder, archive)
    headers = [_info(path, folder) for path in entries]
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
