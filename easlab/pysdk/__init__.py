"""``easlab pysdk init|pack``: the EAS manual's python processor loop (eascmd pysdk).

``init DIR`` makes ``DIR/ENV`` (a virtual environment with ``allspark``), ``app.py`` and
``app.json``; the user installs the model's dependencies with ``DIR/ENV/bin/pip``, tests
with ``DIR/ENV/bin/python app.py``; ``pack DIR`` makes ``DIR.tar.gz`` whose root holds
``ENV/`` and the code, the package a service's ``processor_path`` names.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["pysdk"]


def pysdk(
    action: str,
    directory: str,
    python: str | None = None,
    force: bool = False,
    output: str | None = None,
    without_pip: bool = False,
) -> int:
    """Run one pysdk tool; prints what it did and returns the exit code."""
    folder = Path(directory)
    if action == "init":
        from easlab.pysdk.init import init_project

        if python is None and sys.stdin.isatty():
            # eascmd asks for the version; Enter keeps the one easlab runs on
            own = f"{sys.version_info[0]}.{sys.version_info[1]}"
            python = input(f"Python version (default {own}): ").strip() or None
        made = init_project(folder, python=python, force=force, with_pip=not without_pip)
        if made.env.name in made.kept:
            print(
                f"[PYSDK] Kept your {_shown(made.env)} and the packages installed in it "
                f"(Python {made.version}, allspark importable)"
            )
        else:
            print(f"[PYSDK] Created {_shown(made.env)} (Python {made.version}, allspark installed)")
        made_files = [p for p in (made.app, made.app_json) if p.name not in made.kept]
        if made_files:
            print(f"[PYSDK] Created {' and '.join(map(_shown, made_files))}")
        files = [name for name in made.kept if name != made.env.name]
        if files:
            print(f"[PYSDK] Kept your {' and '.join(files)} (--force writes only what is missing)")
        if made.name and made.name != folder.resolve().name:
            from easlab.spec import NAME_RULE

            print(
                f"[PYSDK] Service name in app.json: {made.name} (a service name uses "
                f"{NAME_RULE}; edit app.json to choose another)"
            )
        print("Next steps:")
        for step in _next_steps(folder):
            print(f"  {step}")
        return 0
    if action == "pack":
        from easlab.pysdk.pack import env_portability, pack_project

        target = Path(output) if output else None
        archive, size = pack_project(folder, target, progress=sys.stderr.isatty())
        print(f"[PYSDK] Created package: {archive.resolve()} ({_human(size)})")
        problem = env_portability(folder)
        if problem:
            print(f"[WARN] for PAI-EAS: {problem}")
        return 0
    raise ValueError(f"unknown pysdk action {action!r}: use init or pack")


def _shown(path: Path) -> str:
    """``path`` as a shell command names it: relative to the current folder when inside
    it, else absolute, quoted where it needs to be."""
    import shlex

    full = path.resolve()
    try:
        return shlex.quote(full.relative_to(Path.cwd().resolve()).as_posix())
    except ValueError:
        return shlex.quote(str(full))


def _next_steps(folder: Path) -> list[str]:
    """What to run after ``init``: every path from the current folder, as the shell
    that runs them stays there (the test server runs in a subshell in the project's
    folder, as EAS runs app.py in its package's)."""
    shown = _shown(folder)

    def inside(name: str) -> str:
        return name if shown == "." else f"{shown}/{name}"

    archive = _shown(folder.resolve().parent / f"{folder.resolve().name}.tar.gz")
    serve = "ENV/bin/python app.py" if shown == "." else f"(cd {shown} && ENV/bin/python app.py)"
    steps = [
        (f"{inside('ENV/bin/pip')} install <your model's dependencies>", ""),
        (serve, "serves on 0.0.0.0:8080"),
        ("curl http://127.0.0.1:8080/test -d '10 20'", ""),
        (f"easlab pysdk pack {shown}", f"makes {archive}"),
        (f"easlab create {inside('app.json')}", "processor_path: the package"),
    ]
    width = max(len(command) for command, why in steps if why)
    return [f"{command:<{width}}  # {why}" if why else command for command, why in steps]


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
