"""The error a Seldon microservice answers with, and its JSON body (SPEC §6)."""

from __future__ import annotations

from typing import Any


class SeldonMicroserviceException(Exception):
    """An error answered as ``{"status": {"status": 1, "info", "code": -1, "reason"}}``.

    ``status_code`` is the HTTP status (400 unless given); ``reason`` one of
    seldon-core's codes: MICROSERVICE_BAD_DATA (default), MICROSERVICE_INTERNAL_ERROR,
    MICROSERVICE_BAD_METADATA, MICROSERVICE_BAD_METRIC, MICROSERVICE_BAD_PARAMETER.
    """

    status_code = 400

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        payload: Any = None,
        reason: str = "MICROSERVICE_BAD_DATA",
    ) -> None:
        Exception.__init__(self)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.payload = payload
        self.reason = reason

    def __str__(self) -> str:
        return str(self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"status": {"status": 1, "info": self.message, "code": -1, "reason": self.reason}}


class SeldonNotImplementedError(SeldonMicroserviceException):
    """Raised by ``SeldonComponent``'s defaults: the wrapper then uses its own behaviour."""

    status_code = 400

    def __init__(self, message: str) -> None:
        SeldonMicroserviceException.__init__(self, message)
