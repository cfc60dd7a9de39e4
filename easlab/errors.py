"""The exceptions easlab raises: one base, a few types users catch.

Every message names what was wrong (the field, the input, the token), what was
expected, what came, and how to fix it.
"""

from __future__ import annotations


class EaslabError(Exception):
    """Base of every error easlab raises on purpose."""


class PredictException(EaslabError):
    """A prediction call failed; same shape as ``eas_prediction.PredictException``.

    ``code`` is the HTTP status (or 500 for transport errors, as the official
    client does), ``message`` the server's answer or the transport error.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"Code: {self.code}, Message: {self.message}"


class OutputNotFound(EaslabError, KeyError):
    """A response has no output of the name or index asked for; the message lists those it has.

    The Torch and Blade responses raise subclasses that are also the official
    client's ``IndexError`` and ``AssertionError``.
    """


class RequestError(EaslabError, ValueError):
    """A request cannot be built: caught before anything is sent."""


class ShapeError(RequestError):
    """Content does not fit the declared shape, or a dimension is invalid."""


class DTypeError(RequestError):
    """A dtype the wire format cannot carry."""


class ArgumentTypeError(RequestError, TypeError):
    """A request argument of the wrong type (an input name that is not text, an output
    index that is not an int); a ``TypeError`` too, which the official client's protobuf
    raises there."""


class ContentTypeError(DTypeError, ArgumentTypeError):
    """Content of the wrong kind for the dtype (text for DT_FLOAT, 1.5 for DT_INT32, a
    number for DT_STRING); a ``TypeError`` too, as officially."""


class DimensionTypeError(ShapeError, ArgumentTypeError):
    """A shape dimension that is not an integer; a ``TypeError`` too, as officially."""


class SpecError(EaslabError, ValueError):
    """A service description (service.json / YAML) is invalid.

    ``field`` is the dotted path of the offending field, e.g. ``metadata.instance``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class UnwritableDirError(EaslabError, OSError):
    """A directory easlab keeps its state, logs or downloads in cannot be written (a
    read-only mount, another user's folder): which one, why, and where to point easlab
    instead. An ``OSError`` too, as the failed write was."""


class KernelError(EaslabError):
    """The local kernel's control plane refused a call (HTTP status + message)."""

    def __init__(self, status: int, message: str) -> None:
        # status 0: no HTTP exchange happened (a kernel that exited before listening, a
        # timeout, an answer broken off): the message alone, without "(HTTP 0)"
        super().__init__(f"{message} (HTTP {status})" if status else message)
        self.status = status
        self.message = message


class KernelNotRunning(KernelError):
    """No local kernel answers at the expected endpoint."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)
