"""Checking what ``wrapperOnceExec`` returned, as aiges 0.16.0's checker does.

``problems()`` lists what the SDK's ``check_resp`` would reject (empty: the
response is accepted), each with the key and the fix; the local runner and
the tests use it, the kernel uses the same rules to refuse a bad answer.
"""

from __future__ import annotations

from typing import Any

from easlab.aiges.fields import TYPE_NAMES
from easlab.aiges.schema import Declared
from easlab.aiges.types import Once


def is_response(value: Any) -> bool:
    """Response-shaped: a ``list`` of outputs and an ``error_code``."""
    return hasattr(value, "list") and hasattr(value, "error_code")


def problems(resp: Any, fields: Declared) -> list[str]:
    """Why the SDK's checker would reject ``resp``; ``[]`` when it accepts it."""
    if not is_response(resp):
        return [
            f"wrapperOnceExec returned {type(resp).__name__}, not a Response: "
            "return a Response (or res.response_err(code))"
        ]
    if not resp.list:
        return ["Response.list is empty: put at least one ResponseData in it"]
    if resp.error_code != 0:
        return []  # an error answer is a valid answer; its message comes from wrapperError
    found: list[str] = []
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
    if len(keys) != len(set(keys)):
        return [f"output keys must be unique, got {keys}"]
    for d in resp.list:
        if d.status != Once:
            found.append(f"output {d.key!r}: status is {d.status}, must be {Once} (DataOnce)")
    if found:
        return found
    for d in resp.list:
        accept = fields.accept(d.key)
        if accept is None:
            allowed = ", ".join(repr(a.key) for a in fields.accepts)
            found.append(f"output {d.key!r} is not declared in responseCls (declared: {allowed})")
        elif d.type != accept.data_type:
            found.append(
                f"output {d.key!r}: type is {d.type} but responseCls declares it "
                f"{TYPE_NAMES.get(accept.data_type, accept.data_type)} ({accept.data_type})"
            )
    return found
