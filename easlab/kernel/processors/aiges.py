"""aiges processors: an iFlytek aiges ``wrapper.py`` run unchanged (SPEC §6, aiges).

``"processor": "aiges"`` with ``processor_path`` holding ``wrapper.py``. The
instance loads the Wrapper with easlab's ``aiges`` surface, calls
``wrapperInit(model_config)`` once (string values, as the real loader's
``map<string, string>``), ``wrapperOnceExec`` per request (params as strings
too, easlab/aiges/params.py) and ``wrapperFini`` when it stops. The service speaks webgate JSON (easlab/aiges/webgate.py):
``POST`` runs the wrapper, ``GET`` answers its schema document. A Response is
checked by easlab/aiges/check.py, as ``easlab aiges run`` checks it; one that
breaks a rule is answered as a webgate error naming the rule, never served.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from easlab.aiges.check import dropped_error, foreign_response, problems
from easlab.aiges.config import (
    WrapperLoadError,
    async_mode_setting,
    delay_detect_period,
    header_pass,
    init_config,
    plugin_mode,
    session_mode_setting,
)
from easlab.aiges.dto import constructor_data, constructor_data_warning
from easlab.aiges.hooks import (
    call_hook,
    error_message,
    loader_notes,
    new_wrapper,
    once_exec,
    raised,
    session_only,
    unfit_hooks,
)
from easlab.aiges.loader import load_wrapper_class
from easlab.aiges.params import as_loader_passes, with_headers
from easlab.aiges.runner import init_failure
from easlab.aiges.schema import Declared, declared, schema_document
from easlab.aiges.session import (
    CALLBACK_WAIT_S,
    SessionBusy,
    SessionFailed,
    called_hooks,
    check_once_async,
    run_once_async,
    run_session,
    serving_mode,
    stream_status,
)
from easlab.aiges.webgate import (
    INVALID_CODE,
    WRAPPER_FAILED,
    RequestInvalid,
    error_answer,
    left_out,
    output_entry,
    parse_request,
)
from easlab.kernel.processors.base import Processor, ProcessorError
from easlab.kernel.processors.http import HttpAnswer, HttpRequest

#: what webgate JSON goes out as (UTF-8, as JSON is: ensure_ascii=False)
_JSON = "application/json"


def _json(doc: Any, status: int) -> tuple[bytes, int]:
    # "replace": a lone surrogate in a wrapper's message (text decoded with
    # surrogateescape, a file name) has no UTF-8; it goes out as "?" rather than
    # failing the answer into a text/plain 400
    text = json.dumps(doc, ensure_ascii=False)
    return HttpAnswer(status, _JSON, text.encode("utf-8", "replace")).reply()


def _log_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class AigesProcessor(Processor):
    """Drives one Wrapper instance per kernel instance."""

    http_aware = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.wrapper: Any = None
        self.fields = Declared((), (), ())
        self.service_id = ctx.service_name
        self.schema: dict[str, Any] | None = None
        self.warned_constructor_data = False
        self.warned_foreign_response = False
        self.session_mode = False
        self.once_async = False  # aiges.toml [aiges] asyncMode: wrapperOnceExecAsync + callback
        self.callback_wait_s = CALLBACK_WAIT_S
        self.header_pass: tuple[str, ...] = ("sid",)
        self.plugin_mode = "c"  # the aiges loader run as (AIGES_PLUGIN_MODE, easlab/aiges/hooks.py)

    def initialize(self) -> None:
        folder = self.ctx.processor_path
        if folder is None:
            raise ProcessorError(
                400, "an aiges service needs `processor_path` (the wrapper.py folder)"
            )
        entry = folder / (self.ctx.processor_entry or "wrapper.py") if folder.is_dir() else folder
        os.chdir(entry.parent)  # relative paths in the wrapper, as in aiges
        try:
            self.plugin_mode = plugin_mode()
            cls = load_wrapper_class(entry)
            config = init_config(self.ctx.model_config, cls, entry.parent)
        except WrapperLoadError as exc:
            raise ProcessorError(400, str(exc)) from None
        unserved = session_only(cls)
        if unserved:
            raise ProcessorError(400, unserved)
        self.fields = declared(cls)
        try:
            setting = session_mode_setting(entry.parent)
            self.callback_wait_s = delay_detect_period(entry.parent)
            self.header_pass = header_pass(entry.parent)
            self.session_mode, note = serving_mode(cls, setting)
            self.once_async = not self.session_mode and async_mode_setting(entry.parent)
            if self.once_async:
                check_once_async(cls, self.plugin_mode)
        except (WrapperLoadError, ValueError) as exc:
            raise ProcessorError(400, str(exc)) from None
        hooks = called_hooks(self.session_mode, self.once_async)
        unfit = unfit_hooks(cls, hooks, self.plugin_mode)
        if unfit:
            raise ProcessorError(400, unfit)
        for line in [note, *loader_notes(cls, hooks, self.plugin_mode)]:
            if line:
                _log_line(line)
        self.service_id = str(getattr(cls, "serviceId", None) or self.ctx.service_name)
        try:
            self.schema = schema_document(cls)
        except (AttributeError, ValueError):
            self.schema = None  # a wrapper without serviceId/version still serves
        try:
            self.wrapper = new_wrapper(cls, self.plugin_mode)
        except TypeError as exc:
            raise ProcessorError(400, str(exc)) from None
        ret = call_hook(
            self.wrapper, "wrapperInit", as_loader_passes(config, self.plugin_mode, "config")
        )
        if ret != 0:  # None included: the aiges loader fails it (easlab/aiges/runner.py)
            raise RuntimeError(
                f"wrapperInit returned {ret}: {init_failure(ret, error_message(self.wrapper, ret))}"
            )

    def signature(self) -> dict[str, Any] | None:
        return None

    def process(self, data: bytes) -> tuple[bytes, int]:
        request = HttpRequest.decode(data)
        if request.path not in ("", "/"):
            return _json(
                error_answer(404, f"no route {request.path!r}: POST or GET the service path", ""),
                404,
            )
        if request.method == "GET":
            if self.schema is None:
                return _json(
                    error_answer(404, "this wrapper has no serviceId/version: no schema", ""), 404
                )
            return _json(self.schema, 200)
        if request.method != "POST":
            return _json(
                error_answer(
                    405, f"{request.method} not allowed: use POST (or GET for the schema)", ""
                ),
                405,
            )
        try:
            parsed = parse_request(request.body, self.fields, self.service_id)
        except RequestInvalid as exc:
            return _json(error_answer(INVALID_CODE, f"{exc.field}: {exc.message}", exc.sid), 400)
        sid, req = parsed.sid, parsed.req
        # the loader adds the headers named by aiges.toml's [aiges] headerPass (and always
        # "sid") to the params it hands the wrapper (aiges instance/inst.go ResLoad),
        # unless a param of that name was sent; a header not sent is ""
        params = with_headers(parsed.params, parsed.headers, self.header_pass)
        if self.session_mode:
            return self._session(params, req, sid)
        if self.once_async:
            return self._once_async(params, req, sid)
        try:
            resp = once_exec(self.wrapper, params, req, sid, self.plugin_mode)
        # BaseException: a wrapper's sys.exit() (SystemExit) or KeyboardInterrupt, left
        # to the worker, ended its thread with no answer: the caller waited for
        # rpc.keepalive (408) and the instance had one thread fewer each time
        except BaseException as exc:
            message = f"wrapperOnceExec raised {raised(exc)}"
            missing = left_out(req, self.fields)
            if missing:  # the likely cause of a wrapper's AttributeError on None
                message += f" ({missing})"
            return _json(error_answer(WRAPPER_FAILED, message, sid), 500)
        self._warn_foreign_response(resp)
        dropped = dropped_error(resp, self.plugin_mode, self.wrapper)
        if dropped:  # the Python plugin's answer differs from the code: say so, never serve
            return _json(error_answer(dropped[0], dropped[1], sid), 500)
        return self._answer(resp, sid)

    def _warn_foreign_response(self, resp: Any) -> None:
        """Once per instance, in the service log: a Response the loader run as cannot take
        (aiges.dto's under the C++ loader, which fails each request with -1 there)."""
        if self.warned_foreign_response:
            return
        note = foreign_response(resp, "wrapperOnceExec", self.plugin_mode)
        if note:
            self.warned_foreign_response = True
            _log_line(note)

    def _session(self, params: dict[str, Any], req: Any, sid: str) -> tuple[bytes, int]:
        """One request as one whole session (easlab/aiges/session.py)."""
        refused = stream_status(req)
        if refused:
            return _json(error_answer(INVALID_CODE, refused, sid), 400)
        wait = self.callback_wait_s
        return self._through_callbacks(
            lambda: run_session(self.wrapper, params, req, sid, wait, _log_line, self.plugin_mode),
            req,
            sid,
        )

    def _once_async(self, params: dict[str, Any], req: Any, sid: str) -> tuple[bytes, int]:
        """wrapperOnceExecAsync, its answer from callback (easlab/aiges/session.py)."""
        wait = self.callback_wait_s
        return self._through_callbacks(
            lambda: run_once_async(self.wrapper, params, req, sid, wait), req, sid
        )

    def _through_callbacks(self, run: Any, req: Any, sid: str) -> tuple[bytes, int]:
        """The answer of a session or an async exec: its Response, or its failure."""
        try:
            resp = run()
        except SessionBusy as exc:
            return _json(error_answer(INVALID_CODE, str(exc), sid), 400)
        except SessionFailed as exc:
            message = str(exc)
            missing = left_out(req, self.fields)
            if missing and exc.code is None:
                message += f" ({missing})"
            return _json(error_answer(exc.code or WRAPPER_FAILED, message, sid), 500)
        return self._answer(resp, sid)

    def _answer(self, resp: Any, sid: str) -> tuple[bytes, int]:
        # the same checks as `easlab aiges run` (check.problems): a response the
        # aiges loader would refuse is an error here too, never served
        found = problems(resp, self.fields)
        if found:
            message = "the wrapper's Response breaks the aiges response rules: " + "; ".join(found)
            return _json(error_answer(WRAPPER_FAILED, message, sid), 500)
        if resp.error_code:
            code = resp.error_code
            return _json(error_answer(code, error_message(self.wrapper, code), sid), 500)
        self._warn_constructor_data(resp)
        payload: dict[str, Any] = {}
        for d in resp.list:
            payload[d.key] = output_entry(self.fields.accept(d.key), bytes(d.data), d.status)
        return _json(
            {"header": {"code": 0, "message": "success", "sid": sid}, "payload": payload}, 200
        )

    def _warn_constructor_data(self, resp: Any) -> None:
        """Once per instance, in the service log: outputs the platform would answer empty."""
        if self.warned_constructor_data:
            return
        keys = [d.key for d in resp.list if constructor_data(d)]
        if keys:
            self.warned_constructor_data = True
            print(constructor_data_warning(keys), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.wrapper is not None:
            call_hook(self.wrapper, "wrapperFini")
            self.wrapper = None
