"""What the EasyRec and TorchRec formats share: ordered map encoding and feature typing.

Both formats carry features in protobuf maps (``map<string, PBFeature>``...).
The official client runs protobuf's pure-Python implementation, which writes a
map's entries in insertion order; easlab's runtime (upb) keeps no such order.
To send the same bytes as the official client, these helpers write the request
messages field by field, taking map entries in the order the user added them.
Messages without maps are serialized by the generated module (upb and the
Python implementation agree there: fields by number, packed repeated numbers).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from easlab.wire.base import I32, I64, LEN, VARINT, iter_fields, len_field, tag, text, varint

__all__ = ["map_entry", "ordered_keys", "keys_on_wire", "scalar_field", "string_field"]


def scalar_field(field: int, kind: str, value: Any) -> bytes:
    """One scalar field (always written: a map entry's or a oneof member's)."""
    if kind in ("int32", "int64"):
        return tag(field, VARINT) + varint(int(value))
    if kind == "float":
        return tag(field, I32) + struct.pack("<f", float(value))
    if kind == "double":
        return tag(field, I64) + struct.pack("<d", float(value))
    if kind == "string":
        return string_field(field, value)
    raise ValueError(f"unknown scalar kind {kind!r}")


def string_field(field: int, value: str | bytes) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return b"".join(len_field(field, [raw]))


def map_entry(
    field: int, key: Any, key_kind: str, value: Any, value_kind: str | None = None
) -> bytes:
    """One map entry, as protobuf's Python implementation writes it: key and value
    always, even when equal to their defaults (a message value, ``value_kind``
    None, is given as its bytes); a float zero as +0.0."""
    parts = scalar_field(1, key_kind, key)
    if value_kind is None:
        parts += b"".join(len_field(2, [value]))
    else:
        if value_kind in ("float", "double") and value == 0:
            value = 0.0  # it writes a zero value as its default: -0.0 loses its sign
        parts += scalar_field(2, value_kind, value)
    return b"".join(len_field(field, [parts]))


def ordered_keys(order: Iterable[Any], present: Iterable[Any]) -> list[Any]:
    """The keys of a map in the order they were added (``order``), then any added
    another way (e.g. through ``request_data`` directly) in the map's own order."""
    present = list(present)
    have = set(present)
    first = [k for k in dict.fromkeys(order) if k in have]
    seen = set(first)
    return first + [k for k in present if k not in seen]


def keys_on_wire(data: bytes, field: int) -> Iterator[str]:
    """The string keys of map field ``field`` of a message, in the order they are written."""
    for f, wt, a, b in iter_fields(data, 0, len(data)):
        if f == field and wt == LEN:
            key = ""
            for kf, kwt, ka, kb in iter_fields(data, a, b):
                if kf == 1 and kwt == LEN:
                    key = text(data, ka, kb, "map key")
            yield key


def feature_kind(value: Any) -> str:
    """The EasyRec kind of a Python/numpy scalar: ``"int"``, ``"float"`` or ``"str"``."""
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    return "str"


def rows_of(features: Any) -> Mapping[str, Any]:
    """A mapping of feature name → value from a dict, a pandas Series or a one-row DataFrame."""
    if isinstance(features, Mapping):
        return features
    if hasattr(features, "columns"):  # a DataFrame
        if len(features) != 1:
            raise ValueError(
                f"user features: expected a one-row DataFrame (one user), got {len(features)} rows; "
                "pass df.iloc[[i]] or a dict"
            )
        return {str(c): features[c].iloc[0] for c in features.columns}
    if hasattr(features, "items"):  # a Series
        return {str(k): v for k, v in features.items()}
    raise TypeError(
        f"features: expected a dict, a pandas Series or a one-row DataFrame, got {type(features).__name__}"
    )


def python_scalar(value: Any) -> Any:
    """A numpy scalar as the Python scalar protobuf expects (others unchanged)."""
    return value.item() if isinstance(value, np.generic) else value
