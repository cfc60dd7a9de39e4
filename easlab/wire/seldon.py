"""Seldon messages as a notebook sends and reads them (SPEC §6).

A service whose signature has ``"format": "seldon"`` (the seldon processor publishes
it at ``GET /api/predict/{name}``) takes a DataFrame, a numpy array or a list as a
``{"data": {"names": [...], "ndarray": [...]}}`` message — names from the DataFrame's
columns, or the signature's first input ``schema.names`` for an array — and its answer
reads back as a DataFrame whose columns are the answer's ``names`` (``class_names()``,
or seldon-core's ``t:0``, ``t:1``...), via :meth:`SeldonAnswer.to_dataframe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from easlab.wire.json import JsonRequest, JsonResponse, _plain

__all__ = ["SeldonAnswer", "SeldonRequest", "is_seldon_signature", "seldon_message"]


def is_seldon_signature(signature: Mapping[str, Any] | None) -> bool:
    """True for the signature of a Seldon service (``"format": "seldon"``)."""
    return bool(signature) and str(signature.get("format") or "").lower() == "seldon"  # type: ignore[union-attr]


def _signature_names(signature: Mapping[str, Any] | None) -> list[str] | None:
    for spec in (signature or {}).get("inputs") or []:
        names = (spec.get("schema") or {}).get("names") if isinstance(spec, Mapping) else None
        if isinstance(names, list) and names:
            return [str(n) for n in names]
    return None


def seldon_message(value: Any, signature: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"data": {"names", "ndarray"}}`` for a DataFrame, a list of dicts (records), an
    array or a list."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(r, Mapping) for r in value):
        import pandas as pd

        value = pd.DataFrame.from_records(list(value))
    if hasattr(value, "columns") and hasattr(value, "to_numpy"):  # a DataFrame
        names: list[str] | None = [str(c) for c in value.columns]
        rows = [[_plain(x) for x in row] for row in value.itertuples(index=False, name=None)]
        return {"data": {"names": names, "ndarray": rows}}
    array = np.asarray(value)
    data: dict[str, Any] = {"ndarray": _plain(array)}
    names = _signature_names(signature)
    if names and array.ndim == 2 and array.shape[1] == len(names):
        data = {"names": names, **data}
    return {"data": data}


class SeldonAnswer(JsonResponse):
    """A Seldon service's JSON answer: ``data`` (the SeldonMessage dict), ``meta``
    (tags, metrics, requestPath), and :meth:`to_dataframe`."""

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.data.get("meta") if isinstance(self.data, dict) else None
        return meta if isinstance(meta, dict) else {}

    def to_dataframe(self) -> Any:
        """``data.ndarray`` / ``data.tensor`` as a DataFrame, columns from ``names``
        (``meta`` in ``df.attrs["meta"]``); other answers (strData, jsonData...) as
        ``JsonResponse.to_dataframe`` reads them."""
        import pandas as pd

        payload = self.data.get("data") if isinstance(self.data, dict) else None
        if not isinstance(payload, dict) or not ("ndarray" in payload or "tensor" in payload):
            return super().to_dataframe()
        names = payload.get("names") or []
        if "ndarray" in payload:
            try:
                array = np.asarray(payload["ndarray"])
            except ValueError:  # ragged rows stay objects
                array = np.asarray(payload["ndarray"], dtype=object)
        else:
            tensor = payload["tensor"]
            array = np.asarray(tensor.get("values", [])).reshape(tensor.get("shape", [-1]))
        if array.ndim == 0:
            array = array.reshape(1, 1)
        elif array.ndim == 1:  # one row when the names say so, else one column
            one_row = len(names) == len(array) > 1
            array = array[None] if one_row else array.reshape(-1, 1)
        elif array.ndim > 2:
            array = array.reshape(array.shape[0], -1)
        columns = names if len(names) == array.shape[1] else None
        frame = pd.DataFrame(array, columns=columns)
        frame.attrs["meta"] = self.meta
        return frame


class SeldonRequest(JsonRequest):
    """A SeldonMessage (a dict) as the JSON body; its answer is a :class:`SeldonAnswer`."""

    def __init__(self, message: Any) -> None:
        self.data = _plain(message)

    def parse_response(self, response_data: bytes) -> SeldonAnswer:
        return SeldonAnswer(response_data)

    def __repr__(self) -> str:
        return f"SeldonRequest({self.data!r})"
