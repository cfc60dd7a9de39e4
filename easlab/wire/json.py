"""JSON requests and responses: PMML-style feature records (SPEC.md §3, PMML).

``JsonRequest(df)`` sends ``[{"feature": value}, ...]`` from a DataFrame or a
list of dicts (a single dict and a list of lists also pass through, as the
manual shows); ``JsonResponse`` turns the answer into a list of dicts or a
DataFrame.
"""

from __future__ import annotations

import datetime
import json as _json
import math
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from easlab.errors import RequestError
from easlab.wire.base import Request, Response, WireError

__all__ = ["JsonRequest", "JsonResponse"]


def _plain(value: Any) -> Any:
    """numpy/pandas scalars and arrays as JSON values; NaN/NaT/None become null (a missing value)."""
    if value is None:
        return None
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestError(
                f"bytes {value[:40]!r} cannot be sent as JSON text: they are not UTF-8 "
                f"({exc.reason} at byte {exc.start}); decode them, or send them "
                "base64-encoded (base64.b64encode(b).decode())"
            ) from None
    dtype = getattr(value, "dtype", None)
    if dtype is not None and dtype.kind == "M" and np.datetime_data(dtype)[0] in _FINE:
        return _datetimes(value)  # as a DataFrame's Timestamps, not integers
    if (dtype is not None and dtype.kind == "m") or isinstance(value, datetime.timedelta):
        return _durations(value)  # as a DataFrame's Timedeltas, not integers or an error
    if _is_pandas_na(value):  # pd.NA, as in a DataFrame: a missing value
        return None
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if tolist is not None:
        return _plain(tolist())
    isoformat = getattr(value, "isoformat", None)  # datetimes, pandas Timestamps
    if isoformat is not None:
        try:
            import pandas as pd

            if pd.isna(value):
                return None
        except (ImportError, TypeError, ValueError):
            pass
        return isoformat()
    raise RequestError(f"value {value!r} of type {type(value).__name__} cannot be sent as JSON")


#: datetime64 units finer than Python's datetime: numpy's ``tolist()`` gives them as
#: bare integers (nanoseconds since 1970), which a service would read as numbers
_FINE = ("ns", "ps", "fs", "as")


def _datetimes(value: Any) -> Any:
    """A numpy datetime64 scalar or array of a unit in ``_FINE`` as ISO 8601 text (NaT:
    null), as a DataFrame's Timestamps are sent."""
    if getattr(value, "ndim", 0):
        return [_datetimes(v) for v in value]
    if np.isnat(value):
        return None
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        try:
            return pandas.Timestamp(value).isoformat()
        except (ValueError, OverflowError):  # beyond pandas' range: numpy's own text
            pass
    return str(np.datetime_as_string(value))


def _durations(value: Any) -> Any:
    """A duration (numpy timedelta64 scalar or array, ``datetime.timedelta``) as ISO 8601
    text (NaT: null), as a DataFrame's Timedeltas are sent (``P0DT0H0M1.5S``)."""
    if getattr(value, "ndim", 0):
        return [_durations(v) for v in value]
    import pandas as pd

    if isinstance(value, np.timedelta64) and np.isnat(value):
        return None
    try:
        return pd.Timedelta(value).isoformat()
    except ValueError:  # months or years: no fixed length
        raise RequestError(
            f"duration {value!r} has no fixed length (months and years vary): convert it "
            "to days, e.g. np.timedelta64(90, 'D'), to send it"
        ) from None


def _is_pandas_na(value: Any) -> bool:
    pandas = sys.modules.get("pandas")  # pd.NA exists only if pandas is imported
    return pandas is not None and value is pandas.NA


def records(data: Any) -> Any:
    """The JSON value a PMML service takes, from a DataFrame, dicts or lists."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        return [_plain(row) for row in data.to_dict(orient="records")]
    if hasattr(data, "to_dict") and hasattr(data, "index"):  # a Series: one record
        return _plain(data.to_dict())
    if isinstance(data, (Mapping, list, tuple, bool, int, float)):
        return _plain(data)
    if hasattr(data, "tolist"):  # a 2-D array: list of lists; a numpy scalar: a number
        return _plain(data.tolist())
    raise RequestError(
        f"JsonRequest takes a DataFrame, a list of dicts, a dict, a list of lists or a number; "
        f"got {type(data).__name__}"
    )


class JsonRequest(Request):
    """A JSON body, e.g. ``JsonRequest([{"sex": 0, "cp": 1}])`` or ``JsonRequest(df)``."""

    def __init__(self, data: Any = None) -> None:
        self.data = records([] if data is None else data)

    def to_string(self) -> bytes:
        try:
            text = _json.dumps(
                self.data, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            )
        except ValueError as exc:  # inf has no JSON form (NaN already became null)
            raise RequestError(f"JsonRequest: {exc}; replace infinite values first") from None
        return text.encode("utf-8")

    def parse_response(self, response_data: bytes) -> JsonResponse:
        """The answer as a ``JsonResponse``; an answer that is not JSON (a python
        processor that answers text) is kept as its text (``is_json`` False): the
        model ran, and what it said is the answer, not an error."""
        return JsonResponse(response_data, text_ok=True)

    def __repr__(self) -> str:
        return f"JsonRequest({self.data!r})"


class JsonResponse(Response):
    """A JSON answer: ``data`` (parsed), ``to_list()``, ``to_dataframe()``, ``resp[i]``.

    A body that is not JSON raises ``WireError``, unless ``text_ok`` (the answer to a
    ``JsonRequest``: a service that answers text): then ``is_json`` is False, ``data``
    is the text (the bytes when they are no UTF-8) and ``str(resp)`` shows it;
    ``to_list()`` / ``to_dataframe()`` say the service answered text.
    """

    def __init__(self, response_data: bytes | str | None = None, *, text_ok: bool = False) -> None:
        raw = b"" if response_data is None else response_data
        self.raw: bytes = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        self.is_json = True
        try:
            self.data: Any = _json.loads(self.raw) if self.raw.strip() else None
        except ValueError as exc:
            if not text_ok:
                raise WireError(f"body is not JSON: {exc}; body starts {self.raw[:80]!r}") from None
            self.is_json = False
            try:
                self.data = self.raw.decode("utf-8")
            except UnicodeDecodeError:
                self.data = self.raw

    def to_string(self) -> str:
        return self.raw.decode("utf-8", "replace")

    __str__ = to_string

    def to_list(self) -> list[Any]:
        """The answer as a list of records (a single object becomes a one-item list)."""
        if not self.is_json:
            raise WireError(
                f"the service answered text, not JSON records: {self.raw[:80]!r}; read it "
                "with str(resp) (resp.raw: the bytes)"
            )
        if self.data is None:
            return []
        return self.data if isinstance(self.data, list) else [self.data]

    def to_dataframe(self) -> Any:
        """The answer as a DataFrame, one row per record."""
        import pandas as pd

        rows = self.to_list()
        if rows and not all(isinstance(r, Mapping) for r in rows):
            return pd.DataFrame(rows)
        return pd.DataFrame.from_records(rows)

    def __getitem__(self, key: Any) -> Any:
        if not self.is_json:
            self.to_list()  # raises: the service answered text (resp[0] is no character of it)
        return self.data[key]

    def __len__(self) -> int:
        return len(self.to_list())

    def __bool__(self) -> bool:
        return bool(self.to_list()) if self.is_json else bool(self.raw)

    def __repr__(self) -> str:
        if not self.is_json:
            return f"JsonResponse(text={self.data!r:.200})"
        return f"JsonResponse({self.data!r})"
