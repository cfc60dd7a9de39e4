"""``init_metadata()`` checked against the V2 model-metadata schema seldon-core uses."""

from __future__ import annotations

import os
from typing import Any

TENSOR_DATA_TYPES = frozenset(
    "BOOL UINT8 UINT16 UINT32 UINT64 INT8 INT16 INT32 INT64 FP16 FP32 FP64 BYTES".split()
)
_SELDON_TYPES = ("tensor", "ndarray", "tftensor", "jsonData", "strData", "binData")


class SeldonInvalidMetadataError(Exception):
    """The metadata does not match the schema; the message says where."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _only(item: dict[str, Any], allowed: set[str]) -> bool:
    return set(item) <= allowed


def _tensor_ok(item: Any) -> bool:
    """One entry of ``inputs``/``outputs``: any of seldon-core's six shapes."""
    if not isinstance(item, dict):
        return True  # the schema's anyOf only constrains objects
    kind = item.get("messagetype")
    if "messagetype" in item and isinstance(kind, str):
        if kind in ("tensor", "ndarray", "tftensor"):
            schema = item.get("schema", {})
            if not _only(item, {"messagetype", "schema"}) or not isinstance(schema, dict):
                return False
            if not _only(schema, {"names", "shape"}):
                return False
            names = schema.get("names", [])
            shape = schema.get("shape", [])
            return (
                isinstance(names, list)
                and all(isinstance(n, str) for n in names)
                and isinstance(shape, list)
                and all(_is_int(s) for s in shape)
            )
        if kind in ("strData", "binData"):
            return _only(item, {"messagetype"})
        # jsonData and custom message types may carry an object "schema"
        return _only(item, {"messagetype", "schema"}) and isinstance(item.get("schema", {}), dict)
    if not _only(item, {"name", "datatype", "shape"}):
        return False
    if "name" in item and not isinstance(item["name"], str):
        return False
    if "datatype" in item and item["datatype"] not in TENSOR_DATA_TYPES:
        return False
    shape = item.get("shape", [])
    return isinstance(shape, list) and all(_is_int(s) for s in shape)


def validate_model_metadata(data: dict[str, Any]) -> dict[str, Any]:
    """The metadata with seldon-core's defaults filled in, or SeldonInvalidMetadataError."""
    image = os.environ.get("PREDICTIVE_UNIT_IMAGE")
    name, version = ("", "")
    if image is not None:
        name, _, version = image.rpartition(":") if ":" in image else (image, "", "latest")
    meta = {
        "name": name,
        "versions": [version],
        "platform": "",
        "inputs": [],
        "outputs": [],
        "custom": {},
        **data,
    }
    allowed = {"name", "versions", "platform", "inputs", "outputs", "custom"}
    extra = sorted(set(meta) - allowed)
    if extra:
        raise SeldonInvalidMetadataError(f"unknown metadata keys {extra}")
    for key in ("name", "platform"):
        if not isinstance(meta[key], str):
            raise SeldonInvalidMetadataError(f"{key!r} must be a string")
    versions = meta["versions"]
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        raise SeldonInvalidMetadataError("'versions' must be a list of strings")
    for key in ("inputs", "outputs"):
        items = meta[key]
        if not isinstance(items, list):
            raise SeldonInvalidMetadataError(f"{key!r} must be a list")
        for item in items:
            if not _tensor_ok(item):
                raise SeldonInvalidMetadataError(f"bad entry in {key!r}: {item!r}")
    custom = meta["custom"]
    if not isinstance(custom, dict) or not all(isinstance(v, str) for v in custom.values()):
        raise SeldonInvalidMetadataError("'custom' must map names to strings")
    return meta
