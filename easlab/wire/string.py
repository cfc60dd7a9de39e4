"""Raw string requests and responses (Python processors, PMML, custom services)."""

from __future__ import annotations

import json as _json
from typing import Any

from easlab.wire.base import Request, Response

__all__ = ["StringRequest", "StringResponse"]


class StringRequest(Request):
    """A request whose body is the given bytes (str is sent UTF-8 encoded)."""

    def __init__(self, request_data: bytes | bytearray | str | None = None) -> None:
        if request_data is not None and not isinstance(request_data, (bytes, bytearray, str)):
            raise TypeError(
                f"StringRequest takes bytes or str, got {type(request_data).__name__}; "
                "use JsonRequest for objects or TFRequest/TorchRequest for arrays"
            )
        self.request_data = "" if request_data is None else request_data

    def to_string(self) -> bytes | bytearray | str:  # type: ignore[override]
        """The body as given (a str stays str, as the official client returns it); it is
        sent UTF-8 encoded. ``bytes(request)`` is the body as bytes either way."""
        return self.request_data

    def __bytes__(self) -> bytes:
        data = self.request_data
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)

    def parse_response(self, response_data: bytes) -> StringResponse:
        return StringResponse(response_data)

    def __str__(self) -> str:
        data = self.request_data
        return data if isinstance(data, str) else data.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"StringRequest({self.request_data!r})"


class StringResponse(Response):
    """A response body as given: ``to_string()`` is the text, ``data`` the bytes."""

    def __init__(self, response_data: bytes | str | None = None) -> None:
        raw = b"" if response_data is None else response_data
        self.data: bytes = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        self.response_data = self.data

    def to_string(self) -> str:
        """The body as text (UTF-8; undecodable bytes are replaced)."""
        return self.data.decode("utf-8", "replace")

    __str__ = to_string

    def __bytes__(self) -> bytes:
        return self.data

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.data)

    def __repr__(self) -> str:
        return f"StringResponse({self.data[:80]!r}{'...' if len(self.data) > 80 else ''})"
