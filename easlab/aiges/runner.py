"""Run a wrapper once locally: init → exec → fini, show the answer, say what failed.

What aiges 0.16.0's ``Wrapper().run()`` does (the wrapper's ``config`` to
``wrapperInit``, the declared test values as params and one DataListNode per
input, the same response checks) plus what it leaves out: ``wrapperFini`` is
called, the response is shown (text printed, binary saved to files), and the
exit code says whether anything failed. Differences on purpose: the SDK's
``run()`` hands the params over typed (``2``, ``False``), its loader on the
platform as strings (``"2"``, ``"false"``); easlab passes strings here as in
the kernel (easlab/aiges/params.py), so a missing ``int(...)`` fails locally.
And as the loader and the kernel do, the params hold the request's sid
(``RUN_SID``) and the headers aiges.toml's headerPass names (``""``: a local run
sends none), which the SDK's ``run()`` leaves out.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any, TextIO

from easlab.aiges.check import dropped_error, foreign_response, is_response, problems
from easlab.aiges.config import (
    WrapperLoadError,
    async_mode_setting,
    delay_detect_period,
    header_pass,
    plugin_mode,
    session_mode_setting,
)
from easlab.aiges.dto import (
    DataListCls,
    DataListNode,
    constructor_data,
    constructor_data_warning,
)
from easlab.aiges.fields import (
    BooleanParamField,
    IntegerParamField,
    NumberParamField,
    ParamField,
    PayloadField,
)
from easlab.aiges.hooks import (
    call_hook,
    error_message,
    loader_notes,
    once_exec,
    session_only,
    unfit_hooks,
)
from easlab.aiges.params import PluginMap, with_headers
from easlab.aiges.schema import Declared, declared
from easlab.aiges.session import (
    SessionFailed,
    called_hooks,
    check_once_async,
    run_once_async,
    run_session,
    serving_mode,
)
from easlab.aiges.types import DataText, Once
from easlab.aiges.webgate import RequestInvalid, _check_param

#: the sid of a local run: the request's sid the hooks get (wrapperCreate's sid, the
#: C++ loader's usrTag)
RUN_SID = "easlab-run"


class RunError(Exception):
    """A bad ``--param`` / ``--input`` given to the runner."""


def parse_param(field: ParamField, text: str) -> Any:
    """A ``--param key=value`` value as the field's type."""
    try:
        if isinstance(field, BooleanParamField):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if isinstance(field, IntegerParamField):
            return int(text)
        if isinstance(field, NumberParamField):
            number = float(text)
            return int(number) if number.is_integer() and "." not in text else number
    except ValueError:
        raise RunError(f"--param {field.key}={text}: not a {field.data_type}") from None
    return text


def build_call(
    fields: Declared, params: dict[str, str] | None = None, inputs: dict[str, Path] | None = None
) -> tuple[dict[str, Any], DataListCls]:
    """The params and reqData of a local run: declared test values, with overrides.

    The params are typed and checked here; ``once_exec`` hands them to the wrapper
    as the loader's strings."""
    values: dict[str, Any] = {p.key: p.test_value for p in fields.params}
    for key, text in (params or {}).items():
        field = fields.param(key)
        if field is None:
            allowed = ", ".join(p.key for p in fields.params) or "none"
            raise RunError(f"--param {key}: not declared in requestCls (declared: {allowed})")
        value = parse_param(field, text)
        try:
            values[key] = _check_param(field, value, key)
        except RequestInvalid as exc:
            raise RunError(f"--param {exc.field}: {exc.message}") from None
    overrides = dict(inputs or {})
    for key in overrides:
        if fields.input(key) is None:
            allowed = ", ".join(p.key for p in fields.inputs)
            raise RunError(f"--input {key}: not declared in requestCls (declared: {allowed})")
    nodes = []
    for body in fields.inputs:
        node = DataListNode()
        node.key = body.key
        node.data = overrides[body.key].read_bytes() if body.key in overrides else _test_data(body)
        node.len = len(node.data)
        node.type = body.data_type
        node.status = Once
        nodes.append(node)
    req = DataListCls()
    req.list = nodes
    return values, req


def _test_data(body: PayloadField) -> Any:
    """The declared test value of an input; a declared test file that is missing is an error
    (the SDK would send a placeholder and let the wrapper fail on it)."""
    path = getattr(body, "path", None)
    if path and not os.path.exists(path):
        raise RunError(
            f"input {body.key!r}: the test file {path!r} that {type(body).__name__}(path=...) "
            f"declares was not found (looked in {Path.cwd()}; `easlab aiges run` and the "
            f"kernel run a wrapper in its own folder): add the file, or pass "
            f"--input {body.key}=FILE"
        )
    return body.test_value


def _placeholder_notes(fields: Declared, inputs: dict[str, Path] | None = None) -> list[str]:
    """A line per input that declares no test file and gets the SDK's placeholder instead."""
    notes = []
    for body in fields.inputs:
        if body.key in (inputs or {}) or getattr(body, "path", None) != "":
            continue
        notes.append(
            f"note: input {body.key!r} declares no test file (path=''), so it gets "
            f"{body.test_value!r}; pass --input {body.key}=FILE to send real data"
        )
    return notes


def _show(resp: Any, fields: Declared, out_dir: Path, out: TextIO) -> None:
    for d in resp.list:
        data = d.data.encode() if isinstance(d.data, str) else bytes(d.data or b"")
        if d.type == DataText:
            try:
                print(f"{d.key} (text, {len(data)} bytes): {data.decode('utf-8')}", file=out)
                continue
            except UnicodeDecodeError:
                pass
        accept = fields.accept(d.key)
        ext = (getattr(accept, "encoding", "") or "bin").lstrip(".")
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{d.key}.{ext}"
        path.write_bytes(data)
        print(f"{d.key} ({len(data)} bytes) saved to {path}", file=out)


def run_wrapper(
    wrapper: Any,
    config: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
    inputs: dict[str, Path] | None = None,
    out_dir: Path | str = ".",
    out: TextIO | None = None,
) -> int:
    """init → exec → fini once; prints the answer and problems; 0 when everything passed."""
    import sys

    out = out or sys.stdout
    unserved = session_only(type(wrapper))
    if unserved:
        print(f"error: {unserved}", file=out)
        return 2
    # the run is in the wrapper's folder (tools.py), where its aiges.toml is
    try:
        mode = plugin_mode()  # the loader run as: AIGES_PLUGIN_MODE, as in aiges
        wait = delay_detect_period(Path.cwd())
        # what would fail the service's start fails the check
        passed_headers = header_pass(Path.cwd())
        session_mode, note = serving_mode(type(wrapper), session_mode_setting(Path.cwd()))
        once_async = not session_mode and async_mode_setting(Path.cwd())
        if once_async:
            check_once_async(type(wrapper), mode)
    except (WrapperLoadError, ValueError) as exc:
        print(f"error: {exc}", file=out)
        return 2
    hooks = called_hooks(session_mode, once_async)
    unfit = unfit_hooks(type(wrapper), hooks, mode)
    if unfit:
        print(f"error: {unfit}", file=out)
        return 2
    for line in [note, *loader_notes(type(wrapper), hooks, mode)]:
        if line:
            print(line, file=out)
    fields = declared(type(wrapper))
    failed = False
    if config is None:
        # the instance's, as the SDK's run() passes self.config (a wrapper may set it in __init__)
        config = dict(getattr(wrapper, "config", None) or {})
    try:
        call_params, req = build_call(fields, params, inputs)
    except RunError as exc:
        print(f"error: {exc}", file=out)
        return 2
    # the loader adds the request's sid and the headers aiges.toml's headerPass names to
    # the params (the kernel: easlab/kernel/processors/aiges.py); a local run has no
    # request headers, so those are "" as for a request that did not send them
    call_params = with_headers(call_params, {"sid": RUN_SID}, passed_headers)
    for note in _placeholder_notes(fields, inputs):
        print(note, file=out)
    try:
        # the gRPC plugin hands the loader's protobuf map (params.PluginMap); the C++
        # loader a dict, as the SDK's run() passes its config
        ret = call_hook(
            wrapper, "wrapperInit", config if mode != "python" else PluginMap(config, "config")
        )
    except Exception:
        print(f"wrapperInit raised:\n{traceback.format_exc()}", file=out)
        return 1
    if ret != 0:
        print(
            f"wrapperInit returned {ret}: {init_failure(ret, error_message(wrapper, ret))}",
            file=out,
        )
        return 1
    # what wrapperDestroy got wrong: the platform ignores it, a local check fails on it
    destroy_problems: list[str] = []
    try:
        if session_mode:
            try:
                resp = run_session(
                    wrapper, call_params, req, RUN_SID, wait, destroy_problems.append, mode
                )
            except SessionFailed as exc:
                print(f"session failed: {exc}", file=out)
                return 1
            finally:
                for problem in destroy_problems:
                    print(problem, file=out)
        elif once_async:  # aiges.toml [aiges] asyncMode = true
            try:
                resp = run_once_async(wrapper, call_params, req, RUN_SID, wait)
            except SessionFailed as exc:
                print(f"async exec failed: {exc}", file=out)
                return 1
        else:
            try:
                resp = once_exec(wrapper, call_params, req, RUN_SID, mode)
            except Exception:
                print(f"wrapperOnceExec raised:\n{traceback.format_exc()}", file=out)
                return 1
            foreign = foreign_response(resp, "wrapperOnceExec", mode)
            if foreign:
                print(foreign, file=out)
            lost_error = dropped_error(resp, mode, wrapper)
            if lost_error:
                print(f"invalid response: {lost_error[1]}", file=out)
                return 1
        found = problems(resp, fields)
        for problem in found:
            print(f"invalid response: {problem}", file=out)
        failed = bool(found) or bool(destroy_problems)
        if is_response(resp) and resp.error_code:
            code = resp.error_code
            print(f"wrapper answered error {code}: {error_message(wrapper, code)}", file=out)
            failed = True
        elif not found:
            _show(resp, fields, Path(out_dir), out)
            dropped = [d.key for d in resp.list if constructor_data(d)]
            if dropped:
                print(constructor_data_warning(dropped), file=out)
    finally:
        try:
            fini = call_hook(wrapper, "wrapperFini")
            if fini not in (0, None):
                print(f"wrapperFini returned {fini}", file=out)
                failed = True
        except Exception:
            print(f"wrapperFini raised:\n{traceback.format_exc()}", file=out)
            failed = True
    if not failed:
        steps = (
            "create, write, read, destroy"
            if session_mode
            else "exec (async, answered through callback)"
            if once_async
            else "exec"
        )
        print(f"wrapper.py verified: init, {steps} and fini passed, response valid", file=out)
    return 1 if failed else 0


def init_failure(ret: Any, message: str) -> str:
    """Why a ``wrapperInit`` return fails the start: the aiges loader takes only ``0``
    (aiges serve.py's ``ret != 0``), so a forgotten ``return 0`` (None) fails there too."""
    if ret is None:
        return "return 0 when init succeeds (the aiges loader fails any other value)"
    return message
