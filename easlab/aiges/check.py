"""Checking what ``wrapperOnceExec`` returned, as aiges 0.16.0's checker does.

``problems()`` lists what the SDK's ``check_resp`` would reject (empty: the
response is accepted), each naming the rule broken and the fix. It is the one
check of a response: ``easlab aiges run`` prints its findings and the kernel's
aiges processor answers them as a webgate error instead of serving the
response (the real loader, aiges serve.py, fails an empty list too).
"""

from __future__ import annotations

from typing import Any

from easlab.aiges.embed import Response as CppResponse
from easlab.aiges.embed import lost_outputs
from easlab.aiges.fields import TYPE_NAMES
from easlab.aiges.hooks import error_message
from easlab.aiges.schema import Declared
from easlab.aiges.types import Once
from easlab.aiges.webgate import WRAPPER_FAILED


def is_response(value: Any) -> bool:
    """Response-shaped: a ``list`` of outputs and an ``error_code``."""
    return hasattr(value, "list") and hasattr(value, "error_code")


def _type_name(data_type: Any) -> str:
    name = TYPE_NAMES.get(data_type, "?") if isinstance(data_type, int) else "?"
    return f"{name} ({data_type!r})"


def foreign_response(resp: Any, hook: str, mode: str) -> str | None:
    """A warning when aiges's loader of ``mode`` cannot take ``resp`` as a Response at
    all, or None.

    The C++ loader (``mode`` c, the default; pyWrapper.cpp) casts what wrapperOnceExec
    and wrapperRead return to its own ``aiges_embed.Response`` (``r.cast<Response
    *>()``): the SDK's ``aiges.dto.Response``, a plain Python class, is a pybind11 cast
    error there, which the loader answers as error -1 for every request, whatever the
    Response holds. The SDK's gRPC plugin (``mode`` python) has no aiges_embed and takes
    aiges.dto's. easlab serves it under both (the SDK's own run() takes it) and says so:
    the warning names the import that runs under both loaders."""
    if mode != "c" or isinstance(resp, CppResponse) or not is_response(resp):
        return None
    kind = type(resp)
    return (
        f"warning: {hook} returned {kind.__module__.replace('easlab.aiges.', 'aiges.')}."
        f"{kind.__name__}, which aiges's C++ loader (AIGES_PLUGIN_MODE=c, the default) "
        "cannot take: it casts the answer to its own aiges_embed.Response, a cast error "
        "there, so on the platform every request fails with error -1 (easlab serves it); "
        "import the types as the SDK's template does, aiges_embed first (try: from "
        "aiges_embed import Response, ResponseData, DataListCls except ImportError: from "
        "aiges.dto import ...), or run with AIGES_PLUGIN_MODE=python, the SDK's gRPC "
        "plugin, which takes aiges.dto's"
    )


#: the code aiges's Python plugin answers for a wrapperOnceExec Response with no outputs
#: (aiges errors.py USER_EXEC_ERROR; serve.py ``if not user_resp or not user_resp.list``)
PLUGIN_EXEC_ERROR = 30003


def dropped_error(resp: Any, mode: str, wrapper: Any) -> tuple[int, str] | None:
    """The error answer for a wrapperOnceExec Response with an ``error_code`` under aiges's
    Python plugin (``mode`` python), or None (another mode, no error code, no Response).

    The plugin (aiges serve.py) never reads ``error_code``: it sends the outputs in
    ``Response.list`` as the answer, so ``Response().response_err(code)`` of aiges.dto,
    whose list holds one blank output, is a success on the platform, the error lost;
    with no outputs it answers its own error 30003 instead of the wrapper's code.
    The message says what the wrapper's wrapperError says of the code."""
    if mode != "python" or not is_response(resp) or not resp.error_code:
        return None
    code = resp.error_code
    said = f"wrapperOnceExec answered error {code} ({error_message(wrapper, code)})"
    fix = (
        "to fail a request there return a Response with no outputs (r.list = [], its error "
        f"{PLUGIN_EXEC_ERROR}); the C++ loader (AIGES_PLUGIN_MODE unset) answers "
        "the code"
    )
    outputs = resp.list if isinstance(resp.list, (list, tuple)) else []
    if not outputs:
        return PLUGIN_EXEC_ERROR, (
            f"{said}, and aiges's Python plugin (AIGES_PLUGIN_MODE=python) ignores a "
            "Response's error_code: a Response with no outputs is its error "
            f"{PLUGIN_EXEC_ERROR} (USER_EXEC_ERROR), the wrapper's code and message lost; " + fix
        )
    keys = ", ".join(repr(getattr(d, "key", "?")) for d in outputs)
    blank = " (the blank one aiges.dto's Response() holds)" if keys == "''" else ""
    return WRAPPER_FAILED, (
        f"{said}, but aiges's Python plugin (AIGES_PLUGIN_MODE=python) ignores a "
        f"Response's error_code and answers the outputs in its list, here {keys}{blank}: on "
        "the platform the request succeeds and the caller never sees the error; " + fix
    )


def problems(resp: Any, fields: Declared) -> list[str]:
    """Why the SDK's checker would reject ``resp``; ``[]`` when it accepts it.

    The rules, in the SDK's order (it stops at the first rule broken): a
    Response; a non-empty ``list`` (an error response included); then, unless
    ``error_code`` is set, bytes ``data`` whose length is ``len``, unique keys,
    status ``Once`` (3), and keys and types that ``responseCls`` declares.
    """
    if not is_response(resp):
        return [
            f"wrapperOnceExec returned {type(resp).__name__}, not a Response: "
            "return a Response (or res.response_err(code))"
        ]
    lost = lost_outputs(resp)  # before resp.list is read here (embed.py)
    if lost:
        return [lost]
    if isinstance(resp, CppResponse) and resp.error_code != 0:
        # the C++ loader reads error_code before the list (pyWrapper.cpp): the new
        # Response of response_err(code) has no outputs, and needs none
        return []
    if not isinstance(resp.list, (list, tuple)):
        # the SDK's len(resp.list) raises on None or a number: its check fails
        return [
            f"Response.list is {type(resp.list).__name__}, not a list: "
            "set res.list = [ResponseData, ...]"
        ]
    if not resp.list:
        return [
            "Response.list is empty: put at least one ResponseData in it "
            "(for a failure, return res.response_err(code))"
        ]
    if resp.error_code != 0:
        return []  # an error answer is a valid answer; its message comes from wrapperError
    found: list[str] = []
    for i, d in enumerate(resp.list):
        # the SDK's check reads d.data, d.key ... and fails on what has none
        if not all(hasattr(d, a) for a in ("key", "data", "len", "type", "status")):
            found.append(
                f"Response.list[{i}] is {type(d).__name__} {d!r:.40}, not a ResponseData: "
                "put ResponseData objects in the list (r = ResponseData(); r.setData(...))"
            )
    if found:
        return found
    for d in resp.list:
        if not isinstance(d.data, (bytes, memoryview)):
            found.append(
                f"output {d.key!r}: data must be bytes, got {type(d.data).__name__} "
                "(use .encode() or setData(bytes))"
            )
        elif d.len != len(d.data):
            found.append(
                f"output {d.key!r}: len is {d.len} but data has {len(d.data)} bytes "
                "(setData() sets both)"
            )
    if found:
        return found
    keys = [d.key for d in resp.list]
    try:
        unique = len(set(keys)) == len(keys)
    except TypeError:  # a list or dict key: the SDK's set(keys) raises, its check fails
        return [f"output keys must be strings (the declared outputs' names), got {keys!r:.80}"]
    if not unique:
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        return [
            f"output keys must be unique, got {keys}: answer each of "
            f"{', '.join(repr(k) for k in repeated)} once (one ResponseData per key)"
        ]
    for d in resp.list:
        if d.status != Once:
            found.append(
                f"output {d.key!r}: status is {d.status}, must be {Once} (DataOnce): "
                "set status = Once"
            )
    if found:
        return found
    for d in resp.list:
        accept = fields.accept(d.key)
        if accept is None:
            allowed = ", ".join(repr(a.key) for a in fields.accepts) or "none"
            # Response() of aiges.dto starts with one blank ResponseData (key ''):
            # r.list.append(l) keeps it in front of the wrapper's outputs
            blank = (
                " (aiges.dto's Response() holds one blank ResponseData: r.list.append(l) "
                "keeps it, r.list = [l] replaces it)"
                if d.key == ""
                else ""
            )
            found.append(
                f"output {d.key!r} is not declared in responseCls (declared: {allowed}): "
                f"use a declared key or declare it{blank}"
            )
        elif d.type != accept.data_type:
            found.append(
                f"output {d.key!r}: type is {_type_name(d.type)} but responseCls declares it "
                f"{_type_name(accept.data_type)}: setDataType({accept.data_type})"
            )
    return found
