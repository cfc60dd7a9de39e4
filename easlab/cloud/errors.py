"""What PAI-EAS answered when it refused a call: its code, message and request id."""

from __future__ import annotations

import re
from typing import Any

from easlab.errors import KernelError

__all__ = ["PaiError", "PaiSetupError", "field_named"]

#: service.json fields an EAS message may name (SPEC §5); the longest match wins
_FIELD = re.compile(
    r"\b(metadata\.[a-z_][\w.]*|cloud\.[\w.]+|model_path|processor_path|processor_entry|"
    r"processor_type|processor_mainclass|processor|model_entry|model_config|oss_endpoint|"
    r"data_image|token|name|metadata)\b"
)


def field_named(message: str) -> str | None:
    """The service.json field an EAS error message names, if any (``metadata.instance``)."""
    found = _FIELD.findall(message or "")
    return max(found, key=len) if found else None


class PaiError(KernelError):
    """PAI-EAS refused a call: ``status`` (HTTP), ``code`` (EAS's, e.g. ``InvalidParameter``),
    ``message`` (EAS's own words), ``request_id`` (for a support ticket), ``field``.

    A subclass of ``KernelError`` so code written against the local kernel
    (``except KernelError``, ``exc.status == 404``) handles the cloud the same way.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        action: str = "",
        request_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.code = code
        self.action = action
        self.request_id = request_id
        self.field = field
        where = f"{action}: " if action else ""
        named = f" [field {self.field}]" if self.field else ""
        rid = f"; request id {request_id}" if request_id else ""
        super().__init__(status, f"PAI-EAS {where}{code}: {message}{named}{rid}")
        self.message = message

    @classmethod
    def from_sdk(cls, exc: Any, action: str) -> PaiError:
        """Turn the SDK's exception (Tea/Dara ``code``, ``data``) into a ``PaiError``."""
        data = getattr(exc, "data", None) or {}
        status = int(data.get("statusCode") or getattr(exc, "statusCode", 0) or 0)
        code = str(data.get("Code") or data.get("code") or getattr(exc, "code", "") or "Error")
        message = str(
            data.get("Message") or data.get("message") or getattr(exc, "message", None) or exc
        )
        request_id = data.get("RequestId") or data.get("requestId")
        # only a refused request names a field (a 403 "token" is not service.json's token)
        field = field_named(message) if status == 400 else None
        return cls(status, code, message, action=action, request_id=request_id, field=field)


class PaiSetupError(PaiError):
    """Nothing was sent: the target is not usable as configured (SDK missing, no
    credentials, an endpoint not allowed). The message says how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "Setup", message)
        self.args = (message,)

    def __str__(self) -> str:
        return self.message
