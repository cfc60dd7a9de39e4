"""``easlab aiges schema|run|create``: the SDK's tools, run with easlab's aiges surface."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} {item!r}: write KEY=VALUE")
        out[key] = value
    return out


def aiges(
    action: str,
    target: str | None = None,
    name: str | None = None,
    path: str = ".",
    param: list[str] | None = None,
    input: list[str] | None = None,
    out: str = ".",
    config: str | None = None,
) -> int:
    """Run one aiges tool; prints its result and returns the exit code."""
    if action == "create":
        from easlab.aiges.scaffold import create_project

        if not name:
            raise ValueError("easlab aiges create needs -n NAME")
        folder = create_project(name, path)
        print(f"[OK] created {folder}: try `cd {folder} && easlab aiges run wrapper.py`")
        return 0
    if not target:
        raise ValueError(f"easlab aiges {action} needs the wrapper.py (or its folder)")
    from easlab.aiges.loader import load_wrapper_class

    cls = load_wrapper_class(target)
    if action == "schema":
        from easlab.aiges.schema import schema_text

        print(schema_text(cls))
        return 0
    from easlab.aiges.runner import run_wrapper

    init_config: dict[str, Any] | None = None
    if config:
        text = Path(config).read_text() if Path(config).is_file() else config
        init_config = json.loads(text)
    inputs = {k: Path(v) for k, v in _pairs(input, "--input").items()}
    for key, file in inputs.items():
        if not file.is_file():
            raise ValueError(f"--input {key}={file}: no such file")
    code = run_wrapper(
        cls(),
        config=init_config,
        params=_pairs(param, "--param"),
        inputs=inputs,
        out_dir=out,
        out=sys.stdout,
    )
    return code
