"""The environment settings seldon-core 1.18.2's microservice reads that change its
answers: ``PAYLOAD_PASSTHROUGH`` (seldon_core/wrapper.py) and the ``FLASK_*`` settings its
``_set_flask_app_configs`` copies into flask's config (``FLASK_JSON_SORT_KEYS``,
``FLASK_JSON_AS_ASCII``, ``FLASK_JSONIFY_PRETTYPRINT_REGULAR``, ``FLASK_DEBUG``).

Each is read as seldon-core reads it (``getenv_as_bool``): "1", "true" or "t" (any case)
is true, any other value false, and an unset variable keeps the default. Checked by
running ``seldon-core-microservice`` with each set (tests/seldon/test_settings.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name)
    return None if value is None else value.lower() in ("1", "true", "t")


@dataclass(frozen=True)
class MicroserviceSettings:
    """How one microservice reads requests and writes its JSON answers."""

    #: ``PAYLOAD_PASSTHROUGH``: the predictions paths hand ``predict_raw`` the request's
    #: bytes and send back what it returns as it is (wrapper.py's ``Predict``)
    passthrough: bool = False
    #: ``FLASK_JSON_SORT_KEYS`` (flask's default: sorted)
    sort_keys: bool = True
    #: ``FLASK_JSON_AS_ASCII`` (flask's default: ``\\u00e9``; false writes UTF-8)
    ensure_ascii: bool = True
    #: ``FLASK_JSONIFY_PRETTYPRINT_REGULAR``, else ``FLASK_DEBUG`` (flask indents in debug)
    pretty: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MicroserviceSettings:
        """The settings of ``env`` (the process's environment by default)."""
        env = os.environ if env is None else env
        pretty = _flag(env, "FLASK_JSONIFY_PRETTYPRINT_REGULAR")
        if pretty is None:
            pretty = bool(_flag(env, "FLASK_DEBUG"))
        sort_keys = _flag(env, "FLASK_JSON_SORT_KEYS")
        ensure_ascii = _flag(env, "FLASK_JSON_AS_ASCII")
        return cls(
            passthrough=bool(_flag(env, "PAYLOAD_PASSTHROUGH")),
            sort_keys=True if sort_keys is None else sort_keys,
            ensure_ascii=True if ensure_ascii is None else ensure_ascii,
            pretty=pretty,
        )

    def dumps(self, value: Any, default: Any = None) -> bytes:
        """``value`` as flask's ``jsonify`` writes it under these settings: compact (or
        indented by 2), keys sorted or as built, ASCII or UTF-8, a newline at the end."""
        layout: dict[str, Any] = {"indent": 2} if self.pretty else {"separators": (",", ":")}
        text = json.dumps(
            value,
            sort_keys=self.sort_keys,
            ensure_ascii=self.ensure_ascii,
            default=default,
            **layout,
        )
        return text.encode() + b"\n"

    def configure(self, app: Any) -> None:
        """Give a flask ``app`` (the one running a ``model_error_handler``) these JSON
        settings, as seldon-core's app has them for the handler's ``jsonify``."""
        app.json.sort_keys = self.sort_keys
        app.json.ensure_ascii = self.ensure_ascii
        app.json.compact = not self.pretty


DEFAULT = MicroserviceSettings()


def as_sent(response: Any) -> bytes:
    """A passthrough ``predict_raw`` answer as seldon-core sends it: its ``jsonify(...,
    skip_encoding=True)`` makes it werkzeug's response body unchanged, so bytes go as they
    are, text as UTF-8, None as no body, and another iterable as its items joined (a
    dict: its keys, as werkzeug iterates it)."""
    if response is None:
        return b""
    if isinstance(response, (bytes, bytearray, memoryview)):
        return bytes(response)
    if isinstance(response, str):
        return response.encode("utf-8")
    try:
        items = list(iter(response))
    except TypeError:
        raise TypeError(
            f"with PAYLOAD_PASSTHROUGH, predict_raw must return bytes or str (sent as they "
            f"are), got {type(response).__name__}: return json.dumps(...) of it, or unset "
            "PAYLOAD_PASSTHROUGH to have it written as JSON"
        ) from None
    body = b""
    for item in items:
        if isinstance(item, str):
            body += item.encode("utf-8")
        elif isinstance(item, (bytes, bytearray)):
            body += bytes(item)
        else:
            raise TypeError(
                f"with PAYLOAD_PASSTHROUGH, predict_raw returned a {type(response).__name__} "
                f"holding a {type(item).__name__}: return bytes or str (json.dumps(...) of it)"
            )
    return body
