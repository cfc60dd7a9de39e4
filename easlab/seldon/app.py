"""The Seldon microservice's REST contract as a route table over one component
(SPEC §6): transport-free — a request's method, path, query, content type and body
in; ``(status, body, content_type)`` out. The kernel's seldon processor and the
standalone ``easlab seldon`` server both drive it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from easlab.seldon import methods
from easlab.seldon.cors import route_key
from easlab.seldon.errors import SeldonMicroserviceException
from easlab.seldon.metrics import SeldonMetrics
from easlab.seldon.routes import NO_MESSAGE, ROUTES
from easlab.seldon.settings import DEFAULT, MicroserviceSettings, as_sent

logger = logging.getLogger(__name__)

JSON = "application/json"
TEXT = "text/html; charset=utf-8"
#: an answer with no body (the executor's readiness): Go writes no content type for it,
#: the kernel always writes one
PLAIN = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = JSON
    #: header fields besides the content type and length: a ``model_error_handler``'s own
    headers: tuple[tuple[str, str], ...] = ()


def _json(value: Any, status: int = 200, settings: MicroserviceSettings = DEFAULT) -> Answer:
    """``value`` as seldon-core's ``jsonify`` writes it (flask 2.2's JSON provider): by
    default compact, keys sorted, ASCII only, a newline at the end (``settings``: the
    ``FLASK_*`` environment's), and what flask's provider turns into JSON
    (:func:`_flask_default`)."""
    return Answer(status, settings.dumps(value, default=_flask_default))


def _flask_default(o: Any) -> Any:
    """What flask's JSON provider writes for values JSON has no type for (its
    ``_default``): a date as an HTTP date, a Decimal or UUID as text, a dataclass as
    its dict, an object with ``__html__`` as that; anything else is the TypeError."""
    import dataclasses
    import datetime
    import decimal
    import uuid

    if isinstance(o, datetime.date):
        if not isinstance(o, datetime.datetime):
            o = datetime.datetime.combine(o, datetime.time(), tzinfo=datetime.timezone.utc)
        elif o.tzinfo is None:  # werkzeug's http_date takes a naive time as UTC
            o = o.replace(tzinfo=datetime.timezone.utc)
        else:
            o = o.astimezone(datetime.timezone.utc)
        from email.utils import format_datetime

        return format_datetime(o, usegmt=True)
    if isinstance(o, (decimal.Decimal, uuid.UUID)):
        return str(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if hasattr(o, "__html__"):
        return str(o.__html__())
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _form_fields(content_type: str, body: bytes) -> dict[str, Any]:
    """A multipart/form-data body as seldon-core reads it: ``strData`` as text, other
    text fields as JSON, files base64 (``binData``) or text."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload: Any = part.get_payload(decode=True) or b""
        if not isinstance(name, str):
            continue
        if part.get_filename() is not None:
            fields[name] = (
                base64.b64encode(payload) if name == "binData" else payload.decode("utf-8")
            )
        elif name == "strData":
            fields[name] = payload.decode("utf-8")
        else:
            fields[name] = json.loads(payload)
    return fields


def parse_request(query: str, content_type: str | None, body: bytes) -> Any:
    """The SeldonMessage dict of a request: multipart form, a ``json`` form field or
    query argument, else a JSON body (``Content-Type: application/json``)."""
    found = raw_request(query, content_type, body)
    if isinstance(found, dict):  # a multipart form's fields
        return found
    if isinstance(found, str):  # a json form field or query argument
        return json.loads(found)
    mimetype = (content_type or "").lower().split(";")[0].strip()
    if not (
        mimetype == JSON or (mimetype.startswith("application/") and mimetype.endswith("+json"))
    ):
        raise SeldonMicroserviceException("Can't find JSON in data")
    try:
        message = json.loads(body)
    except ValueError:
        raise SeldonMicroserviceException("Can't find JSON in data") from None
    if message is None:
        raise SeldonMicroserviceException("Can't find JSON in data")
    return message


def raw_request(query: str, content_type: str | None, body: bytes) -> Any:
    """A request as PAYLOAD_PASSTHROUGH hands it to ``predict_raw`` (seldon-core's
    ``get_request(skip_decoding=True)``): a multipart form still read into its dict, a
    ``json`` form field or query argument as its text, else the body's bytes, whatever
    their content type."""
    ctype = (content_type or "").lower()
    if "multipart/form-data" in ctype:
        return _form_fields(content_type or "", body)
    j_str: str | None = None
    if ctype.startswith("application/x-www-form-urlencoded"):
        j_str = next(iter(parse_qs(body.decode("latin-1")).get("json", [])), None)
    if not j_str:
        j_str = next(iter(parse_qs(query).get("json", [])), None)
    return j_str if j_str else body


#: how a route reads a request: (query, content type, body) -> what its method gets
Reader = Callable[[str, str | None, bytes], Any]


def _status_of(prediction: Any) -> int:
    """The HTTP status of a prediction: a predict_raw answer carrying ``status.code`` sets
    it (seldon-core does so), else 200."""
    if isinstance(prediction, dict) and "code" in (prediction.get("status") or {}):
        return int(prediction["status"]["code"])
    return 200


def _internal(info: str) -> dict[str, Any]:
    return {"status": {"status": 1, "info": info, "code": -1,
                       "reason": "MICROSERVICE_INTERNAL_ERROR"}}  # fmt: skip


class SeldonApp:
    """One component behind the Seldon REST paths."""

    def __init__(
        self,
        user_model: Any,
        metrics: SeldonMetrics | None = None,
        settings: MicroserviceSettings | None = None,
    ) -> None:
        self.user_model = user_model
        self.metrics = metrics or SeldonMetrics()
        #: PAYLOAD_PASSTHROUGH and the FLASK_* JSON settings (the environment's by default)
        self.settings = settings or MicroserviceSettings.from_env()
        self.unit_id = os.environ.get("PREDICTIVE_UNIT_ID", "0")
        self.metadata = methods.init_metadata(user_model)
        self._flask: Any = None
        #: where the service is served and whether a token guards it (``/seldon.json``)
        self.served_at = ("/", False)
        self._document: bytes | None = None
        handlers: dict[str, Callable[[Any], Answer]] = {
            "openapi": self._openapi,
            "predict": self._passthrough if self.settings.passthrough else self._predict,
            "feedback": self._feedback,
            "transform_input": self._call(methods.transform_input),
            "transform_output": self._call(methods.transform_output),
            "route": self._call(methods.route),
            "aggregate": self._call(methods.aggregate),
            "ping": lambda _: Answer(200, b"pong", TEXT),
            "health": self._health,
            "metadata": self._metadata,
        }
        #: path -> (its methods, its endpoint, how it reads the request: None for not at
        #: all): routes.py's table. With PAYLOAD_PASSTHROUGH the predictions paths read it
        #: as it came (:func:`raw_request`), as seldon-core's ``get_request(skip_decoding)``
        self.routes: dict[str, tuple[tuple[str, ...], Callable[[Any], Answer], Reader | None]] = {
            path: (allowed, handlers[kind], self._reader(kind))
            for path, (allowed, kind) in ROUTES.items()
        }

    def _reader(self, kind: str) -> Reader | None:
        if kind in NO_MESSAGE:
            return None
        return raw_request if kind == "predict" and self.settings.passthrough else parse_request

    def _json(self, value: Any, status: int = 200) -> Answer:
        """``value`` as this microservice's ``jsonify`` writes it (its FLASK_* settings)."""
        return _json(value, status, self.settings)

    # -- endpoints -----------------------------------------------------------------

    def _call(self, method: Callable[[Any, Any, SeldonMetrics], Any]) -> Callable[[Any], Answer]:
        def endpoint(request: Any) -> Answer:
            return self._json(method(self.user_model, request, self.metrics))

        return endpoint

    def _predict(self, request: Any) -> Answer:
        return self.predict_answer(methods.predict(self.user_model, request, self.metrics))

    def _passthrough(self, request: Any) -> Answer:
        """PAYLOAD_PASSTHROUGH's prediction: ``predict_raw`` got the request as it came
        and its answer goes back as it is (:func:`~easlab.seldon.settings.as_sent`), as
        ``application/json``; a dict's ``status.code`` is still the HTTP status."""
        response = methods.predict(self.user_model, request, self.metrics)
        return Answer(_status_of(response), as_sent(response))

    def predict_answer(self, response: Any) -> Answer:
        """A prediction's answer as ``/predict`` sends it."""
        return self._json(response, _status_of(response))

    def _feedback(self, request: Any) -> Answer:
        return self._json(
            methods.send_feedback(self.user_model, request, self.metrics, self.unit_id)
        )

    def serve_under(self, base: str, token: bool) -> None:
        """Say where the service is served (``/api/predict/{name}``) and that the kernel
        asks for its token there: ``/seldon.json`` names both."""
        self.served_at = (base, token)
        self._document = None

    def _openapi(self, _: Any) -> Answer:
        if self._document is None:
            from easlab.seldon.openapi import openapi_document

            self._document = _json(openapi_document(*self.served_at)).body
        return Answer(200, self._document)

    def _health(self, _: Any) -> Answer:
        return self._json(self.health())

    def _metadata(self, _: Any) -> Answer:
        if self.metadata is None:
            raise SeldonMicroserviceException(
                "Model metadata unavailable", status_code=500, reason="MICROSERVICE_BAD_METADATA"
            )
        return self._json(self.metadata)

    def health(self) -> Any:
        return methods.health_status(self.user_model, self.metrics)

    # -- dispatch ------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: str = "", content_type: str | None = None, body=b""
    ) -> Answer:
        """Answer one request; errors become seldon-core's JSON error bodies.

        ``path`` "" is the kernel's service root, served as ``/predict``; "/" is the
        microservice's root, which no rule of seldon-core's matches.
        """
        path = path or "/predict"
        method = method.upper()
        if method == "OPTIONS" and path != "/":
            # flask answers OPTIONS itself on every path (its static route catches the
            # rest): 200, empty; the server adds Allow and the CORS headers
            return Answer(200, b"", TEXT)
        route = self.routes.get(route_key(path))
        allowed, endpoint, reader = route if route is not None else ((), None, None)
        if method == "HEAD" and "GET" in allowed:
            method = "GET"  # flask serves HEAD wherever GET is; the server drops the body
        # seldon-core's error handler turns flask's own 404/405 into a 500 body too. Its
        # app has a static route on every path but "/": GET or HEAD that no route takes
        # looks for a file (404), any other method not taken is a 405; "/" is a 404
        if endpoint is None or method not in allowed:
            if method in ("GET", "HEAD") or path == "/":
                return self._json(_internal("404 Not Found: The requested URL was not found on "
                                       "the server. If you entered the URL manually please "
                                       "check your spelling and try again."), 500)  # fmt: skip
            return self._json(_internal("405 Method Not Allowed: The method is not allowed for "
                                   "the requested URL."), 500)  # fmt: skip
        try:
            request = reader(query, content_type, bytes(body)) if reader else None
            return endpoint(request)
        except Exception as exc:
            return self.error_answer(exc)

    def error_answer(self, exc: BaseException) -> Answer:
        """The component's own handler (``model_error_handler``) first, then seldon-core's."""
        custom = self._custom_handler(exc)
        if custom is not None:
            return custom
        if isinstance(exc, SeldonMicroserviceException):
            logger.error("%s", exc.to_dict())
            return self._json(exc.to_dict(), exc.status_code)
        error = SeldonMicroserviceException(
            str(exc), status_code=500, reason="MICROSERVICE_INTERNAL_ERROR"
        )
        logger.error("%s", error.to_dict(), exc_info=exc)
        return self._json(error.to_dict(), 500)

    def _custom_handler(self, exc: BaseException) -> Answer | None:
        blueprint = getattr(self.user_model, "model_error_handler", None)
        if blueprint is None:
            return None
        try:
            import flask
        except ImportError:  # no flask: an exception with to_dict() and status_code
            if hasattr(exc, "to_dict") and hasattr(exc, "status_code"):
                return self._json(exc.to_dict(), int(exc.status_code))
            return None
        from easlab.kernel.processors.http import KERNELS_OWN

        if self._flask is None:
            app = flask.Flask("easlab.seldon")
            self.settings.configure(app)  # the FLASK_* settings, for the handler's jsonify
            app.register_blueprint(blueprint)
            self._flask = app
        app = self._flask
        handler = app._find_error_handler(exc, [])  # noqa: SLF001  (flask's own lookup)
        if handler is None:
            return None
        with app.test_request_context("/predict", method="POST"):
            response = app.make_response(handler(exc))
            own = tuple(
                (name, value)
                for name, value in response.headers.items()
                if name.lower() not in KERNELS_OWN  # flask's Content-Type and -Length
            )
            return Answer(
                response.status_code, response.get_data(), response.content_type or JSON, own
            )


def seldon_signature(app: Any) -> bytes:
    """The JSON a plain ``GET /api/predict/{name}`` answers for a Seldon service (a
    ``SeldonApp`` or a ``GraphApp``): ``{"format": "seldon", "inputs": [...], "outputs":
    [...], "metadata": ...}``, inputs and outputs from the component's ``init_metadata()``
    (empty without). Format ``seldon`` is what tells clients (easlab/wire/seldon.py) to
    send a DataFrame or array as a Seldon ``data.ndarray`` with ``names``.
    """
    root = getattr(app, "root", None)
    single = root.app if root is not None else app
    metadata = getattr(single, "metadata", None)
    meta = metadata if isinstance(metadata, dict) else {}
    signature: dict[str, Any] = {
        "format": "seldon",
        "signature_name": "seldon",
        "inputs": list(meta.get("inputs") or []),
        "outputs": list(meta.get("outputs") or []),
        "metadata": metadata,
        "graph": root is not None and not getattr(app, "microservice", False),
    }
    return json.dumps(signature).encode()
