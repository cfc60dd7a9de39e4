"""EasyRec-processor requests and responses (``easyrec_predict.proto``).

The official ``eas_prediction.EasyRecRequest`` calls, byte for byte, plus
numpy/pandas forms::

    req = EasyRecRequest()
    req.add_user_fea_str("user_id", "u1")                 # official
    req.add_user_features({"age": 31, "city": "hz"})      # a dict, Series or one-row DataFrame
    req.add_item_ids(items["item_id"])                    # any iterable of ids
    resp = req.parse_response(body)
    resp.results["item_3"].scores                         # the official message's fields
    resp.to_dataframe()                                   # item id → one column per output
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from easlab.wire import dtypes as d
from easlab.wire.base import VARINT, Request, Response, pb_text, tag, varint
from easlab.wire.rec import (
    feature_kind,
    keys_on_wire,
    map_entry,
    ordered_keys,
    python_scalar,
    rows_of,
    string_field,
)
from easlab.wire.tensor import from_pb

# the generated module (typed Any: protoc writes no stubs here)
pb: Any = importlib.import_module("easlab.wire.proto.easyrec_predict_pb2")

__all__ = ["EasyRecRequest", "EasyRecResponse"]


class EasyRecRequest(Request):
    """A request to an EasyRec service: user features, candidate item ids, debug level.

    ``signature_name`` and ``fg_mode`` are kept as attributes, as the official
    client does; neither travels in the body. ``request_data`` is the
    ``PBRequest`` message itself: changes made to it are sent.
    """

    def __init__(self, signature_name: str | None = None, fg_mode: str = "normal") -> None:
        self.fg_mode = fg_mode
        self.signature_name = signature_name
        self.request_data: Any = pb.PBRequest()
        self.response: EasyRecResponse | None = None
        # map keys in the order they were added: the official client writes them so
        self._user_order: dict[str, None] = {}
        self._context_order: dict[str, None] = {}

    def __str__(self) -> str:
        return str(self.request_data)

    def set_signature_name(self, singature_name: str) -> None:
        """Set the model's signature name (kept on the object, as the official client does)."""
        self.signature_name = singature_name

    def add_feed(self, data: Any, debug_level: int = 0) -> None:
        """Replace the request by a ``PBRequest`` message or its serialized bytes, with ``debug_level``."""
        if isinstance(data, pb.PBRequest):
            self.request_data = data
            wire = data.SerializeToString()
        else:
            wire = bytes(data)
            self.request_data = pb.PBRequest()
            self.request_data.ParseFromString(wire)
        self._user_order = dict.fromkeys(keys_on_wire(wire, 2))
        self._context_order = dict.fromkeys(keys_on_wire(wire, 4))
        self.request_data.debug_level = debug_level

    def add_user_fea_flt(self, k: str, v: Any) -> None:
        self._user_order[k] = None
        self.request_data.user_features[k].float_feature = float(v)

    def add_user_fea_int(self, k: str, v: Any) -> None:
        self._user_order[k] = None
        self.request_data.user_features[k].int_feature = int(v)

    def add_user_fea_str(self, k: str, v: Any) -> None:
        self._user_order[k] = None
        self.request_data.user_features[k].string_feature = str(v)

    def set_faiss_neigh_num(self, neigh_num: int) -> None:
        """How many neighbours the processor's faiss recall returns."""
        self.request_data.faiss_neigh_num = neigh_num

    def keep_one_item_ids(self) -> None:
        """Keep only the first item id (IndexError when there is none, as in the official client)."""
        item_id = self.request_data.item_ids[0]
        self.request_data.ClearField("item_ids")
        self.request_data.item_ids.extend([item_id])

    # ------------------------------------------------------------ easlab forms

    def set_debug_level(self, debug_level: int) -> None:
        self.request_data.debug_level = debug_level

    def add_user_features(self, features: Any) -> EasyRecRequest:
        """Add user features from a dict, a pandas Series or a one-row DataFrame.

        Integers become ``int_feature``, floats ``float_feature``, anything else
        ``string_feature``; missing values (None, NaN) are left out so the
        processor applies its defaults. Returns the request.
        """
        for key, raw in rows_of(features).items():
            value = python_scalar(raw)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            kind = feature_kind(value)
            if kind == "int":
                self.add_user_fea_int(str(key), value)
            elif kind == "float":
                self.add_user_fea_flt(str(key), value)
            else:
                self.add_user_fea_str(str(key), value)
        return self

    def add_item_ids(self, item_ids: Iterable[Any]) -> EasyRecRequest:
        """Append candidate item ids (a list, numpy array, Series or Index); each is sent as text."""
        self.request_data.item_ids.extend([str(python_scalar(i)) for i in item_ids])
        return self

    # ------------------------------------------------------------ wire

    def to_string(self) -> bytes:
        """The body: the PBRequest, its map entries in the order they were added."""
        m = self.request_data
        parts: list[bytes] = []
        if m.debug_level:
            parts.append(tag(1, VARINT) + varint(m.debug_level))
        for key in ordered_keys(self._user_order, m.user_features):
            parts.append(map_entry(2, key, "string", m.user_features[key].SerializeToString()))
        parts += [string_field(3, item_id) for item_id in m.item_ids]
        for key in ordered_keys(self._context_order, m.context_features):
            parts.append(map_entry(4, key, "string", m.context_features[key].SerializeToString()))
        if m.faiss_neigh_num:
            parts.append(tag(5, VARINT) + varint(m.faiss_neigh_num))
        return b"".join(parts)

    def parse_response(self, response_data: bytes) -> EasyRecResponse:
        """The service's answer as an ``EasyRecResponse`` (also kept as ``self.response``)."""
        self.response = EasyRecResponse(response_data)
        return self.response


class EasyRecResponse(Response):
    """An EasyRec ``PBResponse``: its fields read as on the message, plus numpy/pandas views.

    ``resp.results``, ``resp.item_ids``, ``resp.outputs``, ``resp.error_msg``,
    ``resp.status_code`` … are the message's (``resp.message`` is the message).
    """

    def __init__(self, response_data: bytes | None = None) -> None:
        self.message: Any = pb.PBResponse()
        data = bytes(response_data or b"")
        self.message.ParseFromString(data)
        # the answer's order of results (the parsed map keeps none)
        self._order = list(keys_on_wire(data, 1))

    def __getattr__(self, name: str) -> Any:
        if name == "message":  # not set yet (during unpickling)
            raise AttributeError(name)
        return getattr(self.message, name)

    def __str__(self) -> str:
        return pb_text(self.message)

    def to_string(self) -> str:
        """The answer in protobuf text format, as ``str()`` of the official client's PBResponse."""
        return pb_text(self.message)

    def SerializeToString(self) -> bytes:  # noqa: N802  (the protobuf method's name)
        return bytes(self.message.SerializeToString())

    def scores(self) -> dict[str, np.ndarray]:
        """Item id → its scores (float64), in the order of ``item_ids`` when the answer lists them."""
        results = self.message.results
        listed = [i for i in self.message.item_ids if i in results]
        order = ordered_keys([*listed, *self._order], results)
        return {i: np.asarray(results[i].scores, np.float64) for i in order}

    def arrays(self) -> dict[str, np.ndarray]:
        """The ``tf_outputs`` tensors as numpy arrays."""
        return {
            k: from_pb(v, d.TF_WIRE, f"tf_outputs {k!r}").to_numpy(f"tf_outputs {k!r}")
            for k, v in self.message.tf_outputs.items()
        }

    def to_dataframe(self) -> Any:
        """A DataFrame indexed by item id, one column per output (``outputs``'s names
        when they match the number of scores, else ``score_0``, ``score_1`` …)."""
        import pandas as pd

        scores = self.scores()
        width = max((len(s) for s in scores.values()), default=0)
        names = list(self.message.outputs)
        columns = names if len(names) == width else [f"score_{j}" for j in range(width)]
        rows = [np.pad(s, (0, width - len(s)), constant_values=np.nan) for s in scores.values()]
        frame = pd.DataFrame(
            np.vstack(rows) if rows else np.zeros((0, width)),
            index=pd.Index(list(scores), name="item_id"),
            columns=columns,
        )
        return frame
