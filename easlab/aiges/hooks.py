"""Calling a wrapper's hooks however they are written.

The guide mixes forms (``def wrapperInit(cls, config)``, ``def wrapperFini()``
with no argument at all, ``@classmethod``); aiges 0.16.0 calls them on an
instance, so the argument-less form fails there. easlab calls each hook with
the arguments it can take: bound when the function has room for the
instance, plain otherwise. The request hooks get what aiges's loader passes
them, the one ``AIGES_PLUGIN_MODE`` names as in aiges (config.plugin_mode): the
C++ loader by default (CPP_CALLS, by position), the SDK's gRPC plugin with
``python`` (PYTHON_CALLS, wrapperCreate's sid and userTag by name). Where the
two differ a wrapper is served as the chosen one serves it, with a warning
naming what the other does (``loader_notes``); a signature the chosen loader
cannot call is refused at the start (``unfit_hooks``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from easlab.aiges.params import as_loader_passes, loader_params


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


#: what aiges's gRPC plugin passes the Wrapper class when it makes the instance (aiges
#: serve.py); the C++ loader calls Wrapper() (pyWrapper.cpp)
PLUGIN_WRAPPER_ARGS = {"legacy": False, "is_aipaas": True, "keep_schema_default_value": True}


def new_wrapper(cls: type, mode: str = "c") -> Any:
    """The Wrapper instance, made as aiges's loader of ``mode`` makes it. A constructor the
    gRPC plugin cannot call (an ``__init__(self)`` of the wrapper's own) is a TypeError
    saying what to write, as the plugin fails its init there."""
    if mode != "python":
        return cls()
    try:
        inspect.signature(cls).bind(**PLUGIN_WRAPPER_ARGS)
    except TypeError:
        shown = ", ".join(f"{k}={v}" for k, v in PLUGIN_WRAPPER_ARGS.items())
        raise TypeError(
            f"{cls.__name__}{inspect.signature(cls)} cannot be made as aiges's Python plugin "
            f"(AIGES_PLUGIN_MODE=python) makes the wrapper, {cls.__name__}({shown}): write "
            "def __init__(self, *args, **kwargs) and call super().__init__(*args, **kwargs)"
        ) from None
    except ValueError:  # no signature to read: let the call say
        pass
    return cls(**PLUGIN_WRAPPER_ARGS)


def once_exec(wrapper: Any, params: Mapping[str, Any], req: Any, sid: str, mode: str = "c") -> Any:
    """``wrapperOnceExec`` as aiges's loader of ``mode`` calls it: every param value a
    string (easlab/aiges/params.py); the C++ loader's ``usrTag`` (the request's sid) and
    ``psrId`` (0) to a wrapper that takes them (call_as_loader). The kernel and ``easlab
    aiges run`` both call it here, so a wrapper that does ``range(params["n"])`` fails
    under easlab as on the platform."""
    passed = as_loader_passes(loader_params(params), mode)
    values = loader_values(sid, params=passed, reqData=req)
    return call_as_loader(wrapper, "wrapperOnceExec", values, mode)


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


@dataclass(frozen=True)
class HookCall:
    """How one of aiges's loaders calls a hook: the values it passes by position, in
    order (names of ``loader_values``), how many of them at the least, and the values it
    passes by name."""

    positional: tuple[str, ...]
    least: int
    keywords: tuple[str, ...] = ()

    def text(self, name: str) -> str:
        """``wrapperCreate(params, sid=..., userTag=...)``: the call, as a message shows it."""
        return f"{name}({', '.join([*self.positional, *(f'{k}=...' for k in self.keywords)])})"


#: the C++ loader (AIGES_PLUGIN_MODE=c, aiges's default; aiges_c_python_wrapper
#: pyWrapper.cpp) calls each hook by position. Its versions passed different numbers of
#: values (wrapperOnceExec(params, reqData) until 2023-05, then with usrTag, then with
#: psrId; wrapperRead(handle, sid) until 2023-12, then wrapperRead(handle); wrapperCreate
#: (params, sid), then with psrId, then with usrTag), each a prefix of these, so a hook
#: gets as many of them as it takes, as the loader it was written for passed them, and at
#: least ``least``, which every version passes. It passes nothing by name.
CPP_CALLS: dict[str, HookCall] = {
    "wrapperOnceExec": HookCall(("params", "reqData", "usrTag", "psrId"), 2),
    "wrapperOnceExecAsync": HookCall(("params", "reqData", "usrTag", "psrId"), 3),
    "wrapperCreate": HookCall(("params", "sid", "psrId", "usrTag"), 2),
    "wrapperWrite": HookCall(("handle", "req", "sid"), 2),
    "wrapperRead": HookCall(("handle", "sid"), 1),
    "wrapperDestroy": HookCall(("handle",), 1),
}

#: the SDK's gRPC plugin (AIGES_PLUGIN_MODE=python; aiges serve.py) passes exactly these,
#: wrapperCreate's sid and userTag by name. It never calls wrapperRead (a session's results
#: come through callback only) nor wrapperOnceExecAsync.
PYTHON_CALLS: dict[str, HookCall] = {
    "wrapperOnceExec": HookCall(("params", "reqData"), 2),
    "wrapperCreate": HookCall(("params",), 1, ("sid", "userTag")),
    "wrapperWrite": HookCall(("handle", "req", "sid"), 3),
    "wrapperDestroy": HookCall(("handle",), 1),
}

LOADERS: dict[str, tuple[str, dict[str, HookCall]]] = {
    "c": ("aiges's C++ loader (AIGES_PLUGIN_MODE=c, the default)", CPP_CALLS),
    "python": ("aiges's Python plugin (AIGES_PLUGIN_MODE=python)", PYTHON_CALLS),
}

#: a signature each hook can have that both loaders call as its name says: the one a
#: wrapper is told to write when its own does not fit
PORTABLE: dict[str, str] = {
    "wrapperOnceExec": 'wrapperOnceExec(self, params, reqData, usrTag="", persId=0) -> Response',
    "wrapperOnceExecAsync": "wrapperOnceExecAsync(self, params, reqData, usrTag, persId=0) -> int",
    "wrapperCreate": 'wrapperCreate(self, params, sid, persId=0, usrTag="", userTag="") '
    "-> SessionCreateResponse",
    "wrapperWrite": 'wrapperWrite(self, handle, req, sid="") -> int',
    "wrapperRead": 'wrapperRead(self, handle, sid="") -> Response',
    "wrapperDestroy": "wrapperDestroy(self, handle) -> int",
}


def loader_values(sid: str, **values: Any) -> dict[str, Any]:
    """The values the loaders pass a hook, by what they are: ``values`` (params, reqData,
    handle, req), the request's ``sid``; ``usrTag``/``userTag``, the instance's tag, which
    is the request's sid (aiges instance/inst.go hands the sid as the C++ loader's usrTag;
    the gRPC plugin's ``userTag=`` is the request's tag, the same sid); and ``psrId``, the
    personalisation resource's id, which is 0: the loader passes ``psrIds[0]`` when aiges
    hands it any, and aiges never does (instance.ActMsg.PersonIds is declared and read by
    widget/adapter_c_linux.go but set nowhere, in any of its versions), so its psrCnt is 0."""
    return {**values, "sid": sid, "usrTag": sid, "userTag": sid, "psrId": 0}


#: parameter names that say which value a hook expects where it stands
_TAG_NAMES = ("sid", "usrTag", "userTag")
_PERS_NAMES = ("persId", "psrId")


class _Fit:
    """How a hook takes a loader's call: called bound or plain, its parameters."""

    def __init__(self, owner: Any, name: str, least: int) -> None:
        try:
            raw = inspect.getattr_static(owner, name)
        except AttributeError:
            raise AttributeError(f"{_class_name(owner)} has no {name}()") from None
        self.raw = raw
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

    def arguments(self, call: HookCall, exact: bool) -> tuple[list[str], list[str], list[str]]:
        """The names of the values the loader's ``call`` gives by position and by name, and
        why that call fails (empty when it fits). ``exact``: the loader passes all of
        ``call.positional`` (the gRPC plugin); else as many as the hook takes (the C++ one)."""
        if self.params is None or any(p.kind is p.VAR_POSITIONAL for p in self.params):
            # (*args): a decorator without functools.wraps, most likely; it gets what
            # the loader always passes, which the function it wraps takes the most likely
            count = len(call.positional) if exact else call.least
            return list(call.positional[:count]), list(call.keywords), []
        positional = [
            p for p in self.params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        takes_any = any(p.kind is p.VAR_KEYWORD for p in self.params)
        count = (
            len(call.positional)
            if exact
            else max(call.least, min(len(positional), len(call.positional)))
        )
        problems: list[str] = []
        if count > len(positional):
            problems.append(f"it takes {len(positional)} and the loader passes {count}")
        by_name: list[str] = []
        for key in call.keywords:
            match = next((p for p in self.params if p.name == key), None)
            if match is not None and match.kind is not match.POSITIONAL_ONLY:
                if match in positional[:count]:
                    problems.append(f"{key} is passed by position and by name")
                by_name.append(key)
            elif takes_any:
                by_name.append(key)
            else:
                problems.append(f"it has no parameter {key}, which the loader passes by name")
        missing = [
            p.name
            for p in self.params
            if p.default is p.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and p.name not in by_name
            and p not in positional[:count]
        ]
        if missing:
            problems.append(f"nothing is passed for {', '.join(missing)}")
        return list(call.positional[:count]), by_name, problems

    def misplaced(self, call: HookCall) -> list[str]:
        """Parameters the C++ loader's positions fill with a value their names say they
        are not (``userTag`` getting psrId): one line each, for a warning."""
        if self.params is None:
            return []
        positional = [
            p for p in self.params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        got, _, _ = self.arguments(call, exact=False)
        found = []
        for p, role in zip(positional, got, strict=False):
            tag_gets_pers = p.name in _TAG_NAMES and role == "psrId"
            pers_gets_tag = p.name in _PERS_NAMES and role in ("usrTag", "sid")
            if tag_gets_pers or pers_gets_tag:
                found.append(f"{p.name} gets {role}")
        return found


def _class_name(owner: Any) -> str:
    return owner.__name__ if isinstance(owner, type) else type(owner).__name__


def _loader_calls(mode: str) -> dict[str, HookCall]:
    return LOADERS[mode][1]


def call_as_loader(wrapper: Any, name: str, values: Mapping[str, Any], mode: str = "c") -> Any:
    """``wrapper.<name>`` called as aiges's loader of ``mode`` calls it (CPP_CALLS,
    PYTHON_CALLS), with ``values`` (loader_values). A signature that loader cannot call is
    refused at the start (``unfit_hooks``); called anyway, it raises the TypeError the
    loader's call raises."""
    call = _loader_calls(mode)[name]
    fit = _Fit(wrapper, name, call.least)
    positional, by_name, _ = fit.arguments(call, exact=mode == "python")
    args = [values[n] for n in positional]
    keywords = {n: values[n] for n in by_name}
    if fit.bound:
        return fit.raw(wrapper, *args, **keywords)
    if inspect.isfunction(fit.raw):
        return fit.raw(*args, **keywords)
    return getattr(wrapper, name)(*args, **keywords)


def _written(fit: _Fit, name: str) -> str:
    try:
        return f"{name}{inspect.signature(fit.raw)}"
    except (TypeError, ValueError):
        return name


def _unfit(cls: type, name: str, mode: str) -> str | None:
    """Why the loader of ``mode`` cannot call ``cls``'s hook ``name``; None when it can."""
    loader, calls = LOADERS[mode]
    call = calls[name]
    fit = _Fit(cls, name, call.least)
    _, _, problems = fit.arguments(call, exact=mode == "python")
    if not problems:
        return None
    return (
        f"{cls.__name__}.{_written(fit, name)} cannot be called as {loader} calls it, "
        f"{call.text(name)}: {'; '.join(problems)}"
    )


def unfit_hooks(cls: type, names: tuple[str, ...], mode: str = "c") -> str | None:
    """Why aiges's loader of ``mode`` could not call one of the hooks ``names`` that
    ``cls`` defines (checked at the start, so such a wrapper is refused then, not failed
    at each request with a TypeError); None if all fit."""
    for name in names:
        if name not in _loader_calls(mode) or not defines(cls, name):
            continue
        why = _unfit(cls, name, mode)
        if why:
            return f"{why}; write def {PORTABLE[name]}"
    return None


def loader_notes(cls: type, names: tuple[str, ...], mode: str = "c") -> list[str]:
    """Warnings for the hooks ``names`` (those a request runs) that the loader of ``mode``
    calls, but not as their parameter names say (the C++ loader's positions give the SDK
    template's ``userTag`` psrId), or that the other loader cannot call: easlab serves
    them as the loader of ``mode`` does, and says what to write to run under both."""
    notes = []
    other = "python" if mode == "c" else "c"
    for name in names:
        if not defines(cls, name):
            continue
        if mode == "python" and name == "wrapperRead":
            notes.append(
                f"warning: {cls.__name__}.wrapperRead is never called by aiges's Python plugin "
                "(AIGES_PLUGIN_MODE=python): a session's results come only through "
                "callback(r, sid) there; hand them to callback to run under both loaders"
            )
            continue
        if mode == "c" and name in CPP_CALLS:
            fit = _Fit(cls, name, CPP_CALLS[name].least)
            misplaced = fit.misplaced(CPP_CALLS[name])
            if misplaced:
                notes.append(
                    f"warning: {cls.__name__}.{_written(fit, name)}: {LOADERS['c'][0]} calls "
                    f"{CPP_CALLS[name].text(name)} by position, so {' and '.join(misplaced)}; "
                    f"easlab passes them so. Write def {PORTABLE[name]} (or run with "
                    "AIGES_PLUGIN_MODE=python, whose plugin passes sid= and userTag= by name)"
                )
        if name in _loader_calls(other):
            why = _unfit(cls, name, other)
            if why:
                notes.append(
                    f"warning: {why}; easlab serves it as {LOADERS[mode][0]} does: to run "
                    f"under both, write def {PORTABLE[name]}"
                )
    return notes


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
