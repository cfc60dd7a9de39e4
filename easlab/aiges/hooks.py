"""Calling a wrapper's hooks however they are written.

The guide mixes forms (``def wrapperInit(cls, config)``, ``def wrapperFini()``
with no argument at all, ``@classmethod``); aiges 0.16.0 calls them on an
instance, so the argument-less form fails there. easlab calls each hook with
the arguments it can take: bound when the function has room for the
instance, plain otherwise.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from easlab.aiges.params import loader_params


def call_hook(wrapper: Any, name: str, *args: Any) -> Any:
    """``wrapper.<name>(*args)``, or the function without the instance if it takes no ``self``."""
    try:
        raw = inspect.getattr_static(wrapper, name)
    except AttributeError:
        raise AttributeError(f"{type(wrapper).__name__} has no {name}()") from None
    if not inspect.isfunction(raw):  # classmethod, staticmethod, a callable object
        return getattr(wrapper, name)(*args)
    positional = [
        p
        for p in inspect.signature(raw).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    takes_many = any(p.kind is p.VAR_POSITIONAL for p in inspect.signature(raw).parameters.values())
    if takes_many or len(positional) > len(args):
        return raw(wrapper, *args)
    return raw(*args)


def once_exec(wrapper: Any, params: Mapping[str, Any], req: Any) -> Any:
    """``wrapperOnceExec`` as the aiges loader calls it: every param value a string
    (easlab/aiges/params.py). The kernel and ``easlab aiges run`` both call it here,
    so a wrapper that does ``range(params["n"])`` fails under easlab as on the platform."""
    return call_hook(wrapper, "wrapperOnceExec", loader_params(params), req)


def has_own_hook(wrapper: Any, name: str, base: type) -> bool:
    """True when the wrapper's class defines ``name`` itself (not only ``base``)."""
    for klass in type(wrapper).__mro__:
        if klass is base:
            return False
        if name in vars(klass):
            return True
    return False
