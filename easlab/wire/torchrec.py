"""TorchRec-processor requests and responses (``torchrec_predict.proto``, PAI-Rec).

The official ``eas_prediction.TorchRecRequest`` calls, byte for byte, plus
numpy/pandas forms::

    req = TorchRecRequest()
    req.add_user_fea("user_id", "u1", "STRING")                   # official
    req.add_item_fea("price", 9.5, "DOUBLE")
    req.add_user_features({"age": 31, "tags": ["a", "b"]})         # dtypes inferred
    req.add_item_features(items, item_id="item_id")                # a DataFrame, one row per item
    resp = req.parse_response(body)
    resp.map_outputs["probs"]                                      # the official message's fields
    resp.to_dataframe()                                            # item id → one column per output
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from easlab.errors import ArgumentTypeError
from easlab.wire import dtypes as d
from easlab.wire.base import (
    LEN,
    VARINT,
    Request,
    Response,
    iter_fields,
    len_field,
    pb_text,
    tag,
    text,
    varint,
)
from easlab.wire.rec import (
    keys_on_wire,
    map_entry,
    ordered_keys,
    python_scalar,
    rows_of,
    string_field,
)
from easlab.wire.tensor import from_pb

# the generated module (typed Any: protoc writes no stubs here)
pb: Any = importlib.import_module("easlab.wire.proto.torchrec_predict_pb2")

__all__ = ["TorchRecRequest", "TorchRecResponse", "infer_dtype"]

_LIST_DTYPES = {
    elem: f"{kind}_list"
    for kind, elems in {
        "string": ("STRING",),
        "float": ("FLOAT",),
        "double": ("DOUBLE",),
        "long": ("BIGINT", "INT64"),
        "int": ("INT",),
    }.items()
    for elem in elems
}
_KEY = {"INT": "int", "INT64": "long", "BIGINT": "long", "STRING": "string"}
_VALUE = {
    "INT": "int",
    "INT64": "long",
    "BIGINT": "long",
    "STRING": "string",
    "FLOAT": "float",
    "DOUBLE": "double",
}
# protobuf FieldDescriptor types → the scalar kinds of easlab.wire.rec
_PB_KIND = {5: "int32", 3: "int64", 9: "string", 2: "float", 1: "double"}
_FeatureKey = tuple[int, str, int]  # (request field, feature name, position; -1 for a user feature)


_INTS = ("INT", "INT64", "BIGINT")


def _int(v: Any) -> Any:
    return int(v) if isinstance(v, (bool, np.bool_)) else v


def _bools_as_ints(value: Any, dtype: str) -> Any:
    """``value`` with True/False as 1/0 where ``dtype`` holds integers: the official client's
    protobuf (3.20) stores them so, a modern one refuses a bool in an int field."""
    elem = dtype[dtype.find("<") + 1 : -1] if dtype.endswith(">") else dtype
    if dtype in _INTS:
        return _int(value)
    if dtype[:5] in ("LIST<", "ARRAY") and elem in _INTS and isinstance(value, list):
        return [_int(v) for v in value]
    if dtype.startswith("MAP<") and elem.split(",")[-1] in _INTS and isinstance(value, dict):
        return {k: _int(v) for k, v in value.items()}
    return value


def _feature(value: Any, dtype: str) -> tuple[Any, list[Any] | None]:
    """A PBFeature for ``value`` of TorchRec ``dtype`` (the official rules), and a map's key order.

    A value that does not fit the dtype raises ``ArgumentTypeError`` (a TypeError, as
    the official client's protobuf raises) naming both.
    """
    try:
        return _fill_feature(_bools_as_ints(value, dtype.upper()), dtype.upper())
    except TypeError as exc:
        raise ArgumentTypeError(
            f"feature value {value!r:.80} does not fit TorchRec dtype {dtype!r}: {exc}"
        ) from None


def _fill_feature(value: Any, dtype: str) -> tuple[Any, list[Any] | None]:
    feat = pb.PBFeature()
    if value is None or (isinstance(value, (dict, list)) and len(value) == 0):
        feat.string_feature = ""
    elif dtype == "STRING":
        feat.string_feature = value
    elif dtype == "FLOAT":
        feat.float_feature = value
    elif dtype == "DOUBLE":
        feat.double_feature = value
    elif dtype in ("BIGINT", "INT64"):
        feat.long_feature = value
    elif dtype == "INT":
        feat.int_feature = value
    elif dtype[:5] in ("LIST<", "ARRAY") and dtype.count("<") == 1:
        elem = dtype[dtype.index("<") + 1 : -1]
        if elem not in _LIST_DTYPES or not dtype.endswith(">"):
            raise ValueError("unsupport dtype:", dtype)
        if not isinstance(value, list):
            raise ValueError("Expected value to be a list for LIST<FLOAT> dtype")
        getattr(feat, _LIST_DTYPES[elem]).features.extend(value)
    elif dtype.startswith("MAP<") and dtype.endswith(">") and "," in dtype:
        key_t, value_t = dtype[4:-1].split(",", 1)
        if key_t not in _KEY or value_t not in _VALUE:
            raise ValueError("unsupport dtype:", dtype)
        if not isinstance(value, dict):
            raise ValueError("Expected value to be a dict for MAP<INT,INT> dtype")
        field = getattr(feat, f"{_KEY[key_t]}_{_VALUE[value_t]}_map").map_field
        order = []
        for k, v in value.items():
            # JSON objects have text keys: integer-keyed maps convert them, as the official client does
            key = k if key_t == "STRING" else int(k)
            field[key] = v
            order.append(key)
        return feat, order
    elif dtype in ("ARRAY<ARRAY<FLOAT>>", "LIST<LIST<FLOAT>>"):
        if not isinstance(value, list) or not all(isinstance(sub, list) for sub in value):
            raise ValueError("Expected value to be a list of lists for ARRAY<ARRAY<FLOAT>> dtype")
        for sub in value:
            feat.float_lists.lists.add().features.extend(sub)
    else:
        raise ValueError("unsupport dtype:", dtype)
    return feat, None


def _feature_bytes(feat: Any, order: list[Any] | None) -> bytes:
    """A PBFeature's bytes; a map-valued one with its entries in the order they were added."""
    which = feat.WhichOneof("value")
    if which is None or not which.endswith("_map"):
        return bytes(feat.SerializeToString())
    field = feat.DESCRIPTOR.fields_by_name[which]
    entry = field.message_type.fields_by_name["map_field"].message_type
    key_kind = _PB_KIND[entry.fields_by_name["key"].type]
    value_kind = _PB_KIND[entry.fields_by_name["value"].type]
    values = getattr(feat, which).map_field
    payload = b"".join(
        map_entry(1, k, key_kind, values[k], value_kind) for k in ordered_keys(order or [], values)
    )
    return b"".join(len_field(field.number, [payload]))


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _map_order_on_wire(data: bytes, a: int, b: int) -> list[Any] | None:
    """The key order of a map-valued PBFeature in ``data[a:b]`` (None for other features)."""
    for f, wt, fa, fb in iter_fields(data, a, b):
        if wt != LEN or not 6 <= f <= 20:  # fields 6-20 of PBFeature are the maps
            continue
        keys: list[Any] = []
        for ef, ewt, ea, eb in iter_fields(data, fa, fb):
            if ef != 1 or ewt != LEN:
                continue
            key: Any = "" if f in (11, 12, 13, 14, 15) else 0
            for kf, kwt, ka, kb in iter_fields(data, ea, eb):
                if kf == 1 and kwt == LEN:
                    key = text(data, ka, kb, "map key")
                elif kf == 1 and kwt == VARINT:
                    key = _signed(ka)
            keys.append(key)
        return keys
    return None


def infer_dtype(value: Any) -> str:
    """The TorchRec dtype for a Python/numpy value: ``BIGINT``, ``DOUBLE``, ``LIST<FLOAT>``, ``MAP<STRING,INT>`` …

    numpy's int32/float32 give ``INT``/``FLOAT``; Python ints and floats the
    64-bit types; lists and 1-D arrays take their elements' type.
    """
    if isinstance(value, np.ndarray):
        if value.ndim == 2 and value.dtype.kind == "f":
            return "LIST<LIST<FLOAT>>"
        elem = (
            "STRING"
            if value.dtype.kind in "USO"
            else _scalar_dtype(value.dtype.type(0) if value.size == 0 else value.flat[0])
        )
        return f"LIST<{elem}>"
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (list, tuple, np.ndarray)) for v in value):
            return "LIST<LIST<FLOAT>>"
        return f"LIST<{_scalar_dtype(value[0]) if value else 'STRING'}>"
    if isinstance(value, Mapping):
        if not value:
            return "MAP<STRING,STRING>"
        k, v = next(iter(value.items()))
        key_t = "STRING" if isinstance(k, str) else _scalar_dtype(k)
        return f"MAP<{key_t},{_scalar_dtype(v)}>"
    return _scalar_dtype(value)


def _scalar_dtype(value: Any) -> str:
    if isinstance(value, (np.int32, np.int16, np.int8, np.uint8, np.uint16)):
        return "INT"
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return "BIGINT"
    if isinstance(value, np.float32):
        return "FLOAT"
    if isinstance(value, (float, np.floating)):
        return "DOUBLE"
    return "STRING"


def _plain(value: Any) -> Any:
    """numpy values as the Python values protobuf takes (arrays → lists)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {python_scalar(k): python_scalar(v) for k, v in value.items()}
    value = python_scalar(value)
    return None if isinstance(value, float) and math.isnan(value) else value


def _column_dtype(column: Any) -> str:
    kind = column.dtype.kind
    if kind in "iub":
        return "INT" if column.dtype.itemsize <= 4 and kind != "b" else "BIGINT"
    if kind == "f":
        return "FLOAT" if column.dtype.itemsize <= 4 else "DOUBLE"
    first = next((v for v in column if v is not None), None)
    return "STRING" if first is None else infer_dtype(first)


class TorchRecRequest(Request):
    """A request to a TorchRec service: user/context/item features with dtypes, item ids, meta data.

    ``request_data`` is the ``PBRequest`` message itself: changes made to it are sent.
    """

    def __init__(self) -> None:
        self.request_data: Any = pb.PBRequest()
        self.response: TorchRecResponse | None = None
        # map keys in the order they were added (the official client writes them so)
        self._order: dict[int, dict[str, None]] = {2: {}, 4: {}, 6: {}, 7: {}}
        self._map_orders: dict[_FeatureKey, list[Any]] = {}

    def __str__(self) -> str:
        return str(self.request_data)

    def add_feed(self, data: Any, dbg_lvl: int = 0) -> None:
        """Replace the request by a serialized ``PBRequest`` (or the message), with debug level ``dbg_lvl``."""
        wire = bytes(data.SerializeToString()) if isinstance(data, pb.PBRequest) else bytes(data)
        self.request_data = pb.PBRequest()
        self.request_data.ParseFromString(wire)
        self._order = {f: dict.fromkeys(keys_on_wire(wire, f)) for f in self._order}
        self._map_orders = {}
        for f, wt, a, b in iter_fields(wire, 0, len(wire)):
            if wt == LEN and f in (2, 4, 6):
                self._scan_entry(wire, f, a, b)
        self.request_data.debug_level = dbg_lvl

    def _scan_entry(self, wire: bytes, field: int, a: int, b: int) -> None:
        key, spans = "", []
        for ef, ewt, ea, eb in iter_fields(wire, a, b):
            if ef == 1 and ewt == LEN:
                key = text(wire, ea, eb, "feature name")
            elif ef == 2 and ewt == LEN:
                if field == 2:
                    spans = [(-1, ea, eb)]
                else:
                    spans = [
                        (i, fa, fb)
                        for i, (_, _, fa, fb) in enumerate(
                            x for x in iter_fields(wire, ea, eb) if x[0] == 1 and x[1] == LEN
                        )
                    ]
        for i, fa, fb in spans:
            order = _map_order_on_wire(wire, fa, fb)
            if order is not None:
                self._map_orders[(field, key, i)] = order

    def set_debug_level(self, dbg_lvl: int = 0) -> None:
        self.request_data.debug_level = dbg_lvl

    def add_feat(self, value: Any, dtype: str) -> Any:
        """A ``PBFeature`` holding ``value`` as TorchRec ``dtype`` (``"STRING"``, ``"LIST<FLOAT>"``, ``"MAP<INT,DOUBLE>"`` …)."""
        return _feature(value, dtype)[0]

    def add_user_fea(self, k: str, value: Any, dtype: str) -> None:
        feat, order = _feature(value, dtype)
        self._order[2][k] = None
        self.request_data.user_features[k].CopyFrom(feat)
        self._remember(order, (2, k, -1))

    def add_context_fea(self, k: str, value: Any, dtype: str) -> None:
        self._add_listed(4, k, value, dtype)

    def add_item_fea(self, k: str, value: Any, dtype: str) -> None:
        self._add_listed(6, k, value, dtype)

    def _add_listed(self, field: int, k: str, value: Any, dtype: str) -> None:
        feat, order = _feature(value, dtype)
        self._order[field][k] = None
        features = self._map(field)[k].features
        self._remember(order, (field, k, len(features)))
        features.add().CopyFrom(feat)

    def _remember(self, order: list[Any] | None, key: _FeatureKey) -> None:
        if order is None:
            self._map_orders.pop(key, None)
        else:
            self._map_orders[key] = order

    def _map(self, field: int) -> Any:
        return self.request_data.context_features if field == 4 else self.request_data.item_features

    def add_item_id(self, k: Any) -> None:
        self.request_data.item_ids.append(str(k))

    def add_meta_data(self, k: str, value: Any) -> None:
        self._order[7][k] = None
        self.request_data.meta_data[k] = str(value)

    def set_faiss_neigh_num(self, k: int) -> None:
        self.request_data.faiss_neigh_num = k

    # ------------------------------------------------------------ easlab forms

    def add_user_features(
        self, features: Any, dtypes: Mapping[str, str] | None = None
    ) -> TorchRecRequest:
        """Add user features from a dict, a pandas Series or a one-row DataFrame.

        Each feature's dtype comes from ``dtypes`` or is inferred (``infer_dtype``);
        missing values (None, NaN) are sent as the official client sends them
        (an empty string feature). Returns the request.
        """
        dtypes = dtypes or {}
        for key, raw in rows_of(features).items():
            value = _plain(raw)
            self.add_user_fea(str(key), value, dtypes.get(str(key)) or infer_dtype(raw))
        return self

    def add_item_features(
        self, frame: Any, dtypes: Mapping[str, str] | None = None, item_id: str | None = None
    ) -> TorchRecRequest:
        """Add one feature value per row of a DataFrame (one row per candidate item).

        ``item_id`` names the column holding the item ids (sent as ``item_ids``,
        not as a feature). Column dtypes give the TorchRec dtypes (int64 →
        BIGINT, int32 → INT, float32 → FLOAT, float64 → DOUBLE, text → STRING,
        lists → LIST<…>) unless ``dtypes`` names them.
        """
        return self._add_frame(6, frame, dtypes, item_id)

    def add_context_features(
        self, frame: Any, dtypes: Mapping[str, str] | None = None
    ) -> TorchRecRequest:
        """Add one context feature value per row of a DataFrame (rows aligned with the items)."""
        return self._add_frame(4, frame, dtypes, None)

    def _add_frame(
        self, field: int, frame: Any, dtypes: Mapping[str, str] | None, item_id: str | None
    ) -> TorchRecRequest:
        dtypes = dtypes or {}
        if item_id is not None:
            if item_id not in frame.columns:
                raise KeyError(
                    f"item_id={item_id!r}: no such column; the DataFrame has {list(frame.columns)}"
                )
            self.add_item_ids(frame[item_id])
        for name in frame.columns:
            if name == item_id:
                continue
            column = frame[name]
            dtype = dtypes.get(str(name)) or _column_dtype(column)
            for raw in column.to_numpy(dtype=object):
                self._add_listed(field, str(name), _plain(raw), dtype)
        return self

    def add_item_ids(self, item_ids: Iterable[Any]) -> TorchRecRequest:
        """Append item ids (a list, numpy array, Series or Index); each is sent as text."""
        self.request_data.item_ids.extend([str(python_scalar(i)) for i in item_ids])
        return self

    # ------------------------------------------------------------ wire

    def _listed_bytes(self, field: int, key: str) -> bytes:
        features = self._map(field)[key].features
        return b"".join(
            b"".join(len_field(1, [_feature_bytes(f, self._map_orders.get((field, key, i)))]))
            for i, f in enumerate(features)
        )

    def to_string(self) -> bytes:
        """The body: the PBRequest, map entries in the order they were added."""
        m = self.request_data
        parts: list[bytes] = []
        if m.debug_level:
            parts.append(tag(1, VARINT) + varint(m.debug_level))
        for key in ordered_keys(self._order[2], m.user_features):
            value = _feature_bytes(m.user_features[key], self._map_orders.get((2, key, -1)))
            parts.append(map_entry(2, key, "string", value))
        parts += [string_field(3, item_id) for item_id in m.item_ids]
        for key in ordered_keys(self._order[4], m.context_features):
            parts.append(map_entry(4, key, "string", self._listed_bytes(4, key)))
        if m.faiss_neigh_num:
            parts.append(tag(5, VARINT) + varint(m.faiss_neigh_num))
        for key in ordered_keys(self._order[6], m.item_features):
            parts.append(map_entry(6, key, "string", self._listed_bytes(6, key)))
        for key in ordered_keys(self._order[7], m.meta_data):
            parts.append(map_entry(7, key, "string", m.meta_data[key], "string"))
        return b"".join(parts)

    def parse_response(self, response_data: bytes) -> TorchRecResponse:
        """The service's answer as a ``TorchRecResponse`` (also kept as ``self.response``)."""
        self.response = TorchRecResponse(response_data)
        return self.response


class TorchRecResponse(Response):
    """A TorchRec ``PBResponse``: its fields read as on the message, plus numpy/pandas views.

    ``resp.map_outputs``, ``resp.item_ids``, ``resp.generate_features`` … are the
    message's (``resp.message`` is the message).
    """

    def __init__(self, response_data: bytes | None = None) -> None:
        self.message: Any = pb.PBResponse()
        data = bytes(response_data or b"")
        self.message.ParseFromString(data)
        # the answer's order of map_outputs (the parsed map keeps none)
        self._order = list(keys_on_wire(data, 1))

    def __getattr__(self, name: str) -> Any:
        if name == "message":
            raise AttributeError(name)
        return getattr(self.message, name)

    def __str__(self) -> str:
        return pb_text(self.message)

    def to_string(self) -> str:
        """The answer in protobuf text format, as ``str()`` of the official client's PBResponse."""
        return pb_text(self.message)

    def SerializeToString(self) -> bytes:  # noqa: N802  (the protobuf method's name)
        return bytes(self.message.SerializeToString())

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays()[name]

    def arrays(self) -> dict[str, np.ndarray]:
        """The ``map_outputs`` tensors as numpy arrays."""
        outputs = self.message.map_outputs
        return {
            k: from_pb(outputs[k], d.TORCH_WIRE, f"map_outputs {k!r}").to_numpy(
                f"map_outputs {k!r}"
            )
            for k in ordered_keys(self._order, outputs)
        }

    def to_dataframe(self) -> Any:
        """A DataFrame indexed by item id with one column per output whose first
        dimension has one value per item (an (n, k) output gives ``name[0]`` … ``name[k-1]``)."""
        import pandas as pd

        arrays = self.arrays()
        ids = list(self.message.item_ids)
        n = len(ids) if ids else next((a.shape[0] for a in arrays.values() if a.ndim), 0)
        columns: dict[str, np.ndarray] = {}
        for name, arr in arrays.items():
            if arr.ndim == 0 or arr.shape[0] != n:
                continue
            flat = arr.reshape(n, -1)
            if flat.shape[1] == 1:
                columns[name] = flat[:, 0]
            else:
                columns.update({f"{name}[{j}]": flat[:, j] for j in range(flat.shape[1])})
        index = pd.Index(ids if ids else range(n), name="item_id")
        return pd.DataFrame(columns, index=index)
