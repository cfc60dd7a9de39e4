"""Running a session (stream) wrapper for one request: create → write → read … → destroy.

An aiges wrapper written for the session API implements ``wrapperCreate(params,
sid) -> SessionCreateResponse`` (its ``handle``), ``wrapperWrite(handle, req) ->
int``, ``wrapperRead(handle) -> Response`` and ``wrapperDestroy(handle) -> int``.
The loaders differ in what more they pass (easlab/aiges/hooks.py): aiges's C++
loader, the default, calls ``wrapperCreate(params, sid, psrId, usrTag)`` and the
others by position (a hook gets as many as it takes, as the loader version it was
written for passed them); the SDK's gRPC plugin (``AIGES_PLUGIN_MODE=python``,
aiges serve.py) calls ``wrapperCreate(params, sid=sid, userTag=tag)`` by name and
``wrapperWrite(handle, req, sid)``, and never ``wrapperRead``. The aiges loader writes each frame of a stream and,
after the last one, reads until an output has status ``DataEnd`` or
``DataOnce``; in its asynchronous mode (the Python plugin's default) results
come through ``callback(Response, sid)`` instead of ``wrapperRead``.

easlab serves one HTTP request as one whole session: the request's inputs are
written once (status ``DataOnce``, or ``DataEnd`` when the payload says 2),
then results are read (``wrapperRead`` when the wrapper has its own; anything
passed to ``callback`` counts too) until the last one, each output's pieces
joined in order, and the session is destroyed whatever happened. The reads are
bounded as the loader bounds them: ``READ_WAITS`` empty reads in a row (its
syncRltWaitCnt), ``wrapperDelayDetectPeriod`` seconds without a callback (60
unless aiges.toml's ``[aiges]`` says otherwise), ``READ_LIMIT`` results
without a last one. Every failure is a ``SessionFailed`` naming the hook.
Which API serves a wrapper is ``serving_mode``'s answer: aiges.toml's ``[aiges]
sessMode`` when it says, else the session API for a wrapper that has it and no
wrapperOnceExec of its own.

The loader's other asynchronous call is here too, as it shares the callback
queues: with ``[aiges] asyncMode = true`` a one-shot request goes to
``wrapperOnceExecAsync(params, reqData, sid, persId)``, which returns 0 and hands
its Response to ``callback(r, sid)`` (``run_once_async``).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Mapping
from typing import Any

from easlab.aiges.callbacks import close_session, open_session
from easlab.aiges.dto import DataListCls, Response, ResponseData, constructor_data
from easlab.aiges.embed import lost_outputs
from easlab.aiges.hooks import call_as_loader, defines, error_message, loader_values, raised
from easlab.aiges.params import as_loader_passes, loader_params
from easlab.aiges.types import DataEnd, DataOnce, Once

#: empty reads in a row before a session counts as stuck (aiges instance/type.go
#: syncRltWaitCnt), READ_WAIT_S apart (its syncRltWaitTime, 50 ms)
READ_WAITS = 100
READ_WAIT_S = 0.05
#: results read without a last one before a session counts as endless
READ_LIMIT = 10_000
#: seconds to wait for a callback (the loader's wrapperDelayDetectPeriod default)
CALLBACK_WAIT_S = 60.0


class SessionFailed(Exception):
    """A session hook failed; ``code`` is the wrapper's error code when it gave one."""

    def __init__(self, hook: str, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.hook = hook
        self.code = code


class SessionBusy(Exception):
    """A request names the sid of a session still running."""


def serving_mode(cls: type, setting: bool | None) -> tuple[bool, str | None]:
    """Whether a Wrapper is served through its session API, given aiges.toml's ``[aiges]
    sessMode`` (None: no file, or it does not say), and what the user must be told: the
    loader runs the session API only when sessMode is true (wrapperOnceExec otherwise).

    Raises ValueError when sessMode is true and the wrapper lacks the session hooks."""
    if setting is True:
        missing = [n for n in ("wrapperCreate", "wrapperWrite") if not defines(cls, n)]
        if missing:
            raise ValueError(
                f"aiges.toml sets [aiges] sessMode = true, so the loader runs the session "
                f"API, but {cls.__name__} does not define {' and '.join(missing)}: add "
                "them, or set sessMode = false to serve wrapperOnceExec"
            )
        return True, None
    if setting is False and is_session_wrapper(cls):
        return True, (
            "warning: aiges.toml sets [aiges] sessMode = false, so on the platform the "
            f"loader calls wrapperOnceExec, which {cls.__name__} does not define (every "
            "request fails there); easlab serves its session API: set sessMode = true"
        )
    return is_session_wrapper(cls), None


def called_hooks(session_mode: bool, once_async: bool) -> tuple[str, ...]:
    """The hooks a request runs through in the serving mode chosen (serving_mode; aiges.toml's
    asyncMode), so their signatures are checked at the start (hooks.unfit_hooks)."""
    if session_mode:
        return ("wrapperCreate", "wrapperWrite", "wrapperRead", "wrapperDestroy")
    return ("wrapperOnceExecAsync",) if once_async else ("wrapperOnceExec",)


def is_session_wrapper(cls: type) -> bool:
    """Whether a Wrapper serves through the session API: its own wrapperCreate and
    wrapperWrite and no wrapperOnceExec of its own."""
    return (
        defines(cls, "wrapperCreate")
        and defines(cls, "wrapperWrite")
        and not defines(cls, "wrapperOnceExec")
    )


def stream_status(req: DataListCls) -> str | None:
    """Why a request cannot be one whole session: an input that starts or continues a
    stream (status 0 or 1) is a frame of a stream, which the platform takes over the
    service's WebSocket (aiges httproto/stream: one connection, frames in order, a sid
    the server makes), never as separate HTTP requests; easlab serves HTTP only."""
    for node in req.list:
        if node.status not in (DataEnd, DataOnce):
            name = "DataBegin" if node.status == 0 else "DataContinue"
            return (
                f"payload.{node.key}.status: {node.status} ({name}) is a frame of a stream; "
                "the platform takes a stream's frames over the service's WebSocket (one "
                "connection, the last frame with status 2), not as separate HTTP requests, "
                "and easlab serves a session wrapper over HTTP, one request as one whole "
                f"session: send all of the stream's data in one request with status "
                f"{DataOnce} (DataOnce) or {DataEnd} (DataEnd)"
            )
    return None


def _taken(wrapper: Any, hook: str, ret: Any, what: str, mode: str = "c") -> None:
    """A hook that takes ``what`` answers 0; anything else fails the request naming it.

    The SDK's gRPC plugin (``mode`` python) sends what wrapperWrite returns as the
    protobuf ``Ret(ret=...)``, where None is the unset field, 0: taken there, while the
    C++ loader cannot read None as its int and fails it."""
    if ret is None and mode == "python":
        return
    if not isinstance(ret, int):  # a bool is read as its int by both loaders
        shown = f" {ret!r:.40}" if isinstance(ret, (str, bytes, float)) else ""
        kind = "None" if ret is None else f"{type(ret).__name__}{shown}"
        loader = (
            "the aiges loader reads it as an int and fails any other value"
            if ret is None
            else "aiges's loaders read it as an int: any other type fails the request"
        )
        raise SessionFailed(
            hook,
            f"{hook} returned {kind}, not an int: return 0 when {what} is taken, or an "
            f"error code that wrapperError explains ({loader})",
        )
    if ret != 0:
        raise SessionFailed(hook, f"{hook} returned {ret}: {error_message(wrapper, ret)}", ret)


def _claim(sid: str, what: str) -> queue.Queue[Any]:
    """The results queue of ``sid``, or SessionBusy while another request runs under it:
    callback(r, sid) could not tell the two apart, one would get the other's data."""
    mine = open_session(sid)
    if mine is None:
        raise SessionBusy(
            f"header.sid: {what} with sid {sid!r} is already running; give each "
            "request its own sid (or leave header.sid out: easlab makes one)"
        )
    return mine


def _call(wrapper: Any, hook: str, values: dict[str, Any], mode: str) -> Any:
    try:
        return call_as_loader(wrapper, hook, values, mode)
    # BaseException: a wrapper's sys.exit() must not end the worker's thread
    except BaseException as exc:
        raise SessionFailed(hook, f"{hook} raised {raised(exc)}") from None


def run_session(
    wrapper: Any,
    params: Mapping[str, Any],
    req: DataListCls,
    sid: str,
    callback_wait_s: float = CALLBACK_WAIT_S,
    log: Any = None,
    mode: str = "c",
) -> Response:
    """One whole session for one request, each hook called as aiges's loader of ``mode``
    calls it (hooks.py); the outputs read, each key's pieces joined."""
    mine = _claim(sid, "a session")
    try:
        handle = _create(wrapper, as_loader_passes(loader_params(params), mode), sid, mode)
        try:
            _write(wrapper, handle, req, sid, mode)
            return _read_all(wrapper, handle, sid, mine, callback_wait_s, mode)
        finally:
            _destroy(wrapper, handle, sid, log, mode)
    finally:
        close_session(sid)


def check_once_async(cls: type, mode: str = "c") -> None:
    """ValueError unless a Wrapper can serve aiges.toml's ``[aiges] asyncMode = true`` for
    one-shot requests: the C++ loader then calls its ``wrapperOnceExecAsync``, which the
    SDK's gRPC plugin (``mode`` python) has not."""
    if mode == "python":
        raise ValueError(
            "aiges.toml sets [aiges] asyncMode = true, but aiges's Python plugin "
            "(AIGES_PLUGIN_MODE=python, aiges serve.py) has no wrapperOnceExecAsync: it "
            "serves a one-shot request through wrapperOnceExec and sends the answer back "
            "itself; remove asyncMode, or unset AIGES_PLUGIN_MODE to run under the C++ loader"
        )
    if not defines(cls, "wrapperOnceExecAsync"):
        raise ValueError(
            "aiges.toml sets [aiges] asyncMode = true, so the loader runs each one-shot "
            f"request through wrapperOnceExecAsync, which {cls.__name__} does not define: "
            "add wrapperOnceExecAsync(self, params, reqData, sid) that returns 0 and hands "
            "its Response to callback(r, sid), or remove asyncMode to serve wrapperOnceExec"
        )


def run_once_async(
    wrapper: Any,
    params: Mapping[str, Any],
    req: DataListCls,
    sid: str,
    callback_wait_s: float = CALLBACK_WAIT_S,
) -> Response:
    """One request through ``wrapperOnceExecAsync(params, reqData, sid, persId)``, as the
    loader runs it with ``[aiges] asyncMode = true`` (aiges instance/inst.go: it waits for
    the one Response the wrapper hands to ``callback(r, sid)``), bounded by
    ``callback_wait_s`` as a session's callbacks are."""
    mine = _claim(sid, "a request")
    try:
        values = loader_values(sid, params=loader_params(params), reqData=req)
        ret = _call(wrapper, "wrapperOnceExecAsync", values, "c")  # the C++ loader's only
        _taken(wrapper, "wrapperOnceExecAsync", ret, "the request")
        try:
            resp = mine.get(timeout=callback_wait_s)
        except queue.Empty:
            raise SessionFailed(
                "callback",
                f"no result came through callback(response, sid) within {callback_wait_s:g} s "
                "of wrapperOnceExecAsync: hand the Response to callback(r, sid) with the sid "
                "wrapperOnceExecAsync received",
            ) from None
        _outputs(wrapper, "callback", resp)  # a wrong shape or an error code is a failure
        return resp
    finally:
        close_session(sid)


def _create(wrapper: Any, params: Any, sid: str, mode: str) -> Any:
    made = _call(wrapper, "wrapperCreate", loader_values(sid, params=params), mode)
    if not (hasattr(made, "handle") and hasattr(made, "error_code")):
        raise SessionFailed(
            "wrapperCreate",
            f"wrapperCreate returned {type(made).__name__}, not a SessionCreateResponse: "
            "return one (s = SessionCreateResponse(); s.handle = ...; return s)",
        )
    if made.error_code:
        code = made.error_code
        raise SessionFailed(
            "wrapperCreate",
            f"wrapperCreate failed with error {code}: {error_message(wrapper, code)}",
            code if isinstance(code, int) else None,
        )
    if not isinstance(made.handle, str):
        raise SessionFailed(
            "wrapperCreate",
            f"wrapperCreate's handle is {type(made.handle).__name__} {made.handle!r:.40}, "
            "not a string: the aiges loader keeps it as a string (s.handle = str(...))",
        )
    return made.handle


def _write(wrapper: Any, handle: Any, req: DataListCls, sid: str, mode: str) -> None:
    _taken(
        wrapper,
        "wrapperWrite",
        _call(wrapper, "wrapperWrite", loader_values(sid, handle=handle, req=req), mode),
        "the data",
        mode,
    )


def _read_all(
    wrapper: Any,
    handle: Any,
    sid: str,
    results: queue.Queue[Any],
    callback_wait_s: float,
    mode: str,
) -> Response:
    # the gRPC plugin never calls wrapperRead: its results come through callback only
    reads = mode == "c" and defines(type(wrapper), "wrapperRead")
    parts: dict[str, list[Any]] = {}
    empty = 0
    for _ in range(READ_LIMIT):
        got: list[tuple[str, Any]] = []
        try:
            while True:
                got.append(("callback", results.get_nowait()))
        except queue.Empty:
            pass
        if not got and reads:
            read = _call(wrapper, "wrapperRead", loader_values(sid, handle=handle), mode)
            got.append(("wrapperRead", read))
        elif not got:
            try:
                got.append(("callback", results.get(timeout=callback_wait_s)))
            except queue.Empty:
                unread = (
                    "aiges's Python plugin (AIGES_PLUGIN_MODE=python) never calls wrapperRead"
                    if mode == "python"
                    else "the wrapper has no wrapperRead"
                )
                raise SessionFailed(
                    "callback",
                    f"no result came through callback(response, sid) within "
                    f"{callback_wait_s:g} s of wrapperWrite, and {unread}: call "
                    "callback(r, sid) with the results, the last with "
                    f"status {DataEnd} (DataEnd)"
                    + ("" if mode == "python" else ", or implement wrapperRead(handle)"),
                ) from None
        last = False
        pieces = 0
        for source, resp in got:
            for d in _outputs(wrapper, source, resp):
                parts.setdefault(d.key, []).append(d)
                pieces += 1 if _size(d) else 0
                last = last or d.status in (DataEnd, DataOnce)
        if last:
            return _joined(parts)
        empty = 0 if pieces else empty + 1
        if empty >= READ_WAITS:
            raise SessionFailed(
                "wrapperRead",
                f"wrapperRead gave nothing new {READ_WAITS} times in a row and no last "
                f"result: mark the last output status {DataEnd} (DataEnd), as the aiges "
                "loader stops reading there",
            )
        if not pieces:
            time.sleep(READ_WAIT_S)  # the loader's wait between empty reads
    raise SessionFailed(
        "wrapperRead",
        f"{READ_LIMIT} results were read and none was the last (status {DataEnd}, "
        "DataEnd): mark the last output so",
    )


def _size(d: Any) -> int:
    try:
        return len(d.data)
    except TypeError:
        return 0


def _outputs(wrapper: Any, source: str, resp: Any) -> list[Any]:
    """The outputs of one result, or SessionFailed naming where it came from."""
    if not (hasattr(resp, "list") and hasattr(resp, "error_code")):
        raise SessionFailed(
            source,
            f"{source} returned {type(resp).__name__}, not a Response: return a Response "
            "(or res.response_err(code))",
        )
    lost = lost_outputs(resp)  # before resp.list is read here (embed.py)
    if lost:
        raise SessionFailed(source, f"{source}'s {lost}")
    if resp.error_code:
        code = resp.error_code
        raise SessionFailed(
            source,
            f"{source} answered error {code}: {error_message(wrapper, code)}",
            code if isinstance(code, int) else None,
        )
    if not isinstance(resp.list, (list, tuple)):
        raise SessionFailed(
            source,
            f"{source}'s Response.list is {type(resp.list).__name__}, not a list: "
            "set res.list = [ResponseData, ...]",
        )
    for d in resp.list:
        if not all(hasattr(d, a) for a in ("key", "data", "len", "type", "status")):
            raise SessionFailed(
                source,
                f"{source}'s Response.list holds {type(d).__name__} {d!r:.40}, not a ResponseData",
            )
        if not isinstance(d.key, str):
            raise SessionFailed(
                source,
                f"{source}'s output key {d.key!r:.40} is not a string: use the declared "
                'output\'s name (l.key = "...")',
            )
    return list(resp.list)


def _joined(parts: dict[str, list[Any]]) -> Response:
    """One Once output per key: its pieces' data joined in the order they were read."""
    resp = Response()
    resp.list = []
    for key, pieces in parts.items():
        joined = ResponseData()
        joined.key = key
        joined.type = pieces[0].type
        joined.status = Once
        datas = [p.data for p in pieces]
        if all(isinstance(x, (bytes, bytearray, memoryview)) for x in datas):
            joined._data = b"".join(bytes(x) for x in datas)
        else:  # left as the wrapper gave it: the response check names the type
            joined._data = next(x for x in datas if not isinstance(x, (bytes, memoryview)))
        # a piece whose data came from ResponseData(key, data) is empty on the platform
        # (dto.constructor_data): the joined output keeps that mark for the warning
        joined._from_constructor = any(constructor_data(p) for p in pieces)
        lens = [p.len for p in pieces]
        joined._len = sum(lens) if all(isinstance(n, int) for n in lens) else lens[0]
        resp.list.append(joined)
    return resp


def _destroy(wrapper: Any, handle: Any, sid: str, log: Any, mode: str) -> None:
    """The aiges loader ignores what wrapperDestroy answers; easlab says so in the log."""
    try:
        ret = call_as_loader(wrapper, "wrapperDestroy", loader_values(sid, handle=handle), mode)
    except BaseException as exc:
        if log:
            log(f"wrapperDestroy({handle!r}) raised {raised(exc)}")
        return
    if not log or ret is None or ret is False or ret == 0:
        return
    if not isinstance(ret, int):
        log(
            f"wrapperDestroy({handle!r}) returned {type(ret).__name__}, not an int: return 0 "
            "when the session is gone, or an error code (the aiges loader goes on either way)"
        )
        return
    log(f"wrapperDestroy({handle!r}) returned {ret}: {error_message(wrapper, ret)}")
