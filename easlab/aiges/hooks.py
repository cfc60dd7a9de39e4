"""Calling a wrapper's hooks however they are written.

The guide mixes forms (``def wrapperInit(cls, config)``, ``def wrapperFini()``
with no argument at all, ``@classmethod``); aiges 0.16.0 calls them on an
instance, so the argument-less form fails there. easlab calls each hook with
the arguments it can take: bound when the function has room for the
instance, plain otherwise. The request hooks get what the aiges loaders pass
them (LOADER_CALLS: the C++ loader's arguments by position, the gRPC plugin's
by name), and a signature that cannot take that call is refused at the start
(``unfit_hooks``).
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


def once_exec(wrapper: Any, params: Mapping[str, Any], req: Any, sid: str) -> Any:
    """``wrapperOnceExec`` as the aiges loader calls it: every param value a string
    (easlab/aiges/params.py), then the C++ loader's ``usrTag`` (the request's sid) and
    ``psrId`` (0) to a wrapper that takes them (call_fitting). The kernel and ``easlab
    aiges run`` both call it here, so a wrapper that does ``range(params["n"])`` fails
    under easlab as on the platform."""
    return call_fitting(
        wrapper, "wrapperOnceExec", loader_params(params), req, sid, 0, by_name=loader_names(sid)
    )


#: aiges's session (stream) API (easlab/aiges/session.py runs it)
SESSION_HOOKS = ("wrapperCreate", "wrapperWrite", "wrapperRead", "wrapperDestroy")


def session_only(wrapper_cls: type) -> str | None:
    """Why easlab cannot serve a Wrapper that implements part of the session (stream) API
    and no ``wrapperOnceExec``: it needs wrapperCreate and wrapperWrite (results come
    from wrapperRead or ``callback``). None when it can be served."""
    own = [n for n in SESSION_HOOKS if defines(wrapper_cls, n)]
    if not own or defines(wrapper_cls, "wrapperOnceExec"):
        return None
    missing = [n for n in ("wrapperCreate", "wrapperWrite") if not defines(wrapper_cls, n)]
    if not missing:
        return None
    return (
        f"{wrapper_cls.__name__} implements part of aiges's session (stream) API "
        f"({', '.join(own)}) but not {' and '.join(missing)}: a session wrapper needs "
        "wrapperCreate(self, params, sid) -> SessionCreateResponse and "
        "wrapperWrite(self, handle, req) -> int (results from wrapperRead(self, handle) or "
        "callback(r, sid)); or add wrapperOnceExec(self, params, reqData) -> Response"
    )


#: what the aiges C++ loader passes each hook, in order (aiges_c_python_wrapper
#: pyWrapper.cpp: ``_wrapperOnceExec(params, reqData, usrTag, psrId)``, ...), how many of
#: them every loader passes (the SDK's gRPC plugin, aiges serve.py, passes fewer:
#: ``wrapperOnceExec(params, req)``, ``wrapperWrite(handle, req, sid)``), and the
#: signature a wrapper is told to write when its own cannot take the call
LOADER_CALLS: dict[str, tuple[tuple[str, ...], int, str]] = {
    "wrapperOnceExec": (
        ("params", "reqData", "usrTag", "psrId"),
        2,
        'wrapperOnceExec(self, params, reqData, usrTag="", persId=0) -> Response',
    ),
    "wrapperOnceExecAsync": (
        ("params", "reqData", "usrTag", "psrId"),
        4,
        "wrapperOnceExecAsync(self, params, reqData, sid, persId=0) -> int",
    ),
    "wrapperCreate": (
        ("params", "sid", "psrId", "usrTag"),
        2,
        'wrapperCreate(self, params, sid, persId=0, usrTag="") -> SessionCreateResponse',
    ),
    "wrapperWrite": (("handle", "req", "sid"), 2, 'wrapperWrite(self, handle, req, sid="") -> int'),
    "wrapperRead": (("handle", "sid"), 1, 'wrapperRead(self, handle, sid="") -> Response'),
    "wrapperDestroy": (("handle",), 1, "wrapperDestroy(self, handle) -> int"),
}


class _Fit:
    """How a hook takes the loader's arguments: called bound or plain, its parameters."""

    def __init__(self, owner: Any, name: str, least: int) -> None:
        try:
            raw = inspect.getattr_static(owner, name)
        except AttributeError:
            raise AttributeError(f"{_class_name(owner)} has no {name}()") from None
        self.raw = raw
        self.least = least
        self.bound = False
        self.params: list[inspect.Parameter] | None
        if inspect.isfunction(raw):
            params = list(inspect.signature(raw).parameters.values())
            positional = [
                p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            # the loaders call the bound method; the guide's forms without ``self``
            # (def wrapperFini()) are called plain: a first parameter that is not self
            # or cls counts as the instance only when there is one more than the loader
            # always passes
            self.bound = bool(params) and (
                params[0].name in ("self", "cls")
                or len(positional) > least
                or any(p.kind is p.VAR_POSITIONAL for p in params)
            )
            # the instance takes the first parameter, unless that is *args itself
            first_named = bool(positional) and positional[0] is params[0]
            self.params = params[1:] if self.bound and first_named else params
        else:  # classmethod, staticmethod, a callable object: already bound
            try:
                self.params = list(inspect.signature(getattr(owner, name)).parameters.values())
            except (TypeError, ValueError):
                self.params = None

    def arguments(
        self, args: tuple[Any, ...], names: Mapping[str, Any]
    ) -> tuple[list[Any], dict[str, Any], list[str]]:
        """The positional and keyword arguments, and the required parameters left without one."""
        if self.params is None or any(p.kind is p.VAR_POSITIONAL for p in self.params):
            # (*args): a decorator without functools.wraps, most likely; it gets what
            # every loader passes, which the function it wraps takes the most likely
            return list(args[: self.least]), {}, []
        positional = [
            p for p in self.params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        taken = min(len(positional), len(args))  # the loader's values it has room for
        values: list[Any] = []
        keywords: dict[str, Any] = {}
        missing: list[str] = []
        for i, p in enumerate(positional):
            if p.name in names:
                value = names[p.name]
            elif i < taken:
                value = args[i]
            else:  # none for it: its default, or nothing
                if p.default is p.empty:
                    missing.append(p.name)
                continue
            if len(values) == i:
                values.append(value)
            elif p.kind is not p.POSITIONAL_ONLY:  # after a gap: by name, as the gRPC plugin
                keywords[p.name] = value
            else:
                missing.append(p.name)
        for p in self.params:
            if p.kind is p.KEYWORD_ONLY:
                if p.name in names:
                    keywords[p.name] = names[p.name]
                elif p.default is p.empty:
                    missing.append(p.name)
        return values, keywords, missing


def _class_name(owner: Any) -> str:
    return owner.__name__ if isinstance(owner, type) else type(owner).__name__


def call_fitting(
    wrapper: Any, name: str, *args: Any, by_name: Mapping[str, Any] | None = None
) -> Any:
    """``wrapper.<name>`` called as the aiges loaders call it: ``args`` by position, in the
    C++ loader's order, as many as it takes (the loaders pass the session hooks different
    numbers of arguments: ``wrapperWrite(handle, req)`` in the C++ one, ``(handle, req,
    sid)`` in the SDK's); a parameter whose name is in ``by_name`` gets that value
    wherever it stands, as the SDK's gRPC plugin passes them by name (aiges serve.py:
    ``wrapperCreate(params, sid=..., userTag=...)``)."""
    least = LOADER_CALLS[name][1] if name in LOADER_CALLS else len(args)
    fit = _Fit(wrapper, name, least)
    values, keywords, _ = fit.arguments(args, by_name or {})
    if fit.bound:
        return fit.raw(wrapper, *values, **keywords)
    if inspect.isfunction(fit.raw):
        return fit.raw(*values, **keywords)
    return getattr(wrapper, name)(*values, **keywords)


def unfit_hooks(cls: type, names: tuple[str, ...]) -> str | None:
    """Why the aiges loader could not call one of the hooks ``names`` that ``cls`` defines:
    a parameter it requires that the loader never passes (checked at the start, so such a
    wrapper is refused then, not failed at each request with a TypeError). None if all fit."""
    for name in names:
        if name not in LOADER_CALLS or not defines(cls, name):
            continue
        passed, least, expected = LOADER_CALLS[name]
        fit = _Fit(cls, name, least)
        sample = ("",) * len(passed)
        _, _, missing = fit.arguments(sample, loader_names(""))
        if missing:
            try:
                written = f"{name}{inspect.signature(fit.raw)}"
            except (TypeError, ValueError):
                written = name
            return (
                f"{cls.__name__}.{written} cannot be called as the aiges loader calls it, "
                f"{name}({', '.join(passed)}): nothing is passed for "
                f"{', '.join(missing)}; write def {expected}"
            )
    return None


def plugin_mode_note(cls: type, names: tuple[str, ...]) -> str | None:
    """A warning for a ``wrapperOnceExec`` (among ``names``, the hooks a request runs) that
    requires the C++ loader's usrTag/psrId: aiges's Python plugin (AIGES_PLUGIN_MODE=python,
    aiges serve.py) calls ``wrapperOnceExec(params, reqData)`` and fails it. easlab serves
    it as the C++ loader (the default mode) does; None when the hook fits both loaders."""
    name = "wrapperOnceExec"
    if name not in names or not defines(cls, name):
        return None
    _, least, _ = LOADER_CALLS[name]
    _, _, missing = _Fit(cls, name, least).arguments(("",) * least, {})
    if not missing:
        return None
    return (
        f"warning: {cls.__name__}.wrapperOnceExec requires {' and '.join(missing)}: aiges's "
        "C++ loader passes them (AIGES_PLUGIN_MODE=c, the default), and easlab serves it "
        "so, but its Python plugin (AIGES_PLUGIN_MODE=python) calls wrapperOnceExec(params, "
        'reqData) and fails every request there: give them defaults (usrTag="", persId=0) '
        "to run under both"
    )


def loader_names(sid: str) -> dict[str, Any]:
    """The hook parameters the aiges loaders fill by what they are, not where they stand:
    ``sid``; ``usrTag``/``userTag``, the instance's tag, which is the request's sid (the
    C++ loader's usrTag is aiges's instance handle, the sid: aiges instance/inst.go; the
    gRPC plugin's ``userTag=`` is the same handle); ``persId``/``psrId``, the
    personalisation resource's id, 0 when the request names none (easlab has none)."""
    return {"sid": sid, "usrTag": sid, "userTag": sid, "persId": 0, "psrId": 0}


#: where WrapperBase lives; named, not imported: the sdk imports the runner, which
#: imports this module
_SDK_MODULE = "easlab.aiges.sdk"


def defines(cls: type, name: str) -> bool:
    """Whether ``cls`` or a class of the user's between it and WrapperBase defines ``name``."""
    for klass in cls.__mro__:
        if klass.__module__ == _SDK_MODULE:
            return False
        if name in vars(klass):
            return True
    return False


def raised(exc: BaseException) -> str:
    """``ValueError: the message``, or the bare name of an exception with none."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def error_message(wrapper: Any, code: Any) -> str:
    """What ``wrapperError(code)`` says of an error code, for the kernel, the runner and
    the session hooks alike. The message is a courtesy, the code is the answer: a
    wrapperError that raises (a ``sys.exit()`` included) is said, never let out."""
    try:
        text = call_hook(wrapper, "wrapperError", code)
    except BaseException as exc:
        return f"(wrapperError({code}) raised {raised(exc)})"
    return str(text) if text else f"wrapper error {code}"
