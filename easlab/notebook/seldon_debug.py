"""The debug form of a Seldon service, built from the metadata it answers at ``/metadata``.

``SeldonDebugSession`` is a ``DebugSession`` (token, kernel, history, request and
response texts, "copy as" snippets all shared) whose form has one field per input
the component's ``init_metadata()`` declares (name, shape, datatype), filling a
Seldon ``{"data": {"names": [...], "ndarray": [...]}}`` message; without declared
inputs the body is a JSON text box. Everything goes out through the target's
``PredictClient`` (``/metadata`` too, under the service's path, with its token).
``SeldonDebugWidget`` shows it, and each answer's data as a table plus its ``meta``
(tags, metrics, requestPath). Tests drive both without a browser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w
import traitlets

from easlab.notebook import _record
from easlab.notebook.display import escape, value_html
from easlab.notebook.widget import SESSION_UPGRADES, BodyEditor, DebugWidget
from easlab.notebook.widget_session import DebugSession

__all__ = ["SeldonDebugSession", "SeldonDebugWidget", "SeldonField", "is_seldon_target"]

_INT_TYPES = {"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}


def is_seldon_target(target: Any) -> bool:
    """True when the target's signature says ``"format": "seldon"``."""
    from easlab.wire.seldon import is_seldon_signature

    return is_seldon_signature(target.signature())


@dataclass
class SeldonField:
    """One input declared by the metadata: its name, shape, datatype and the columns it
    fills in the ndarray; ``value`` is a list of rows (one list per row, one entry per
    column) once filled."""

    name: str
    shape: list[int]
    dtype: str  # a V2 datatype (FP32, BYTES...) or a messagetype (ndarray, tensor...)
    columns: list[str] = field(default_factory=list)
    width: int = 1  # entries per row
    value: list[list[Any]] | None = None
    source: str = ""
    v2: bool = True  # a V2 tensor input ({"name", "datatype", "shape"}), else a messagetype

    @classmethod
    def from_metadata(cls, index: int, spec: Any) -> SeldonField:
        spec = spec if isinstance(spec, dict) else {}
        if "messagetype" in spec:  # {"messagetype": "ndarray", "schema": {"names", "shape"}}
            schema = spec.get("schema") if isinstance(spec.get("schema"), dict) else {}
            names = [str(n) for n in schema.get("names") or []]
            shape = _dims(f"input {index}", schema.get("shape") or [])
            width = len(names) or (shape[-1] if shape and shape[-1] > 0 else 1)
            kind = str(spec["messagetype"])
            return cls(f"input {index}", shape, kind, names, width, v2=False)
        name = str(spec.get("name") or f"input {index}")  # V2: {"name", "datatype", "shape"}
        shape = _dims(name, spec.get("shape") or [])
        return cls(name, shape, str(spec.get("datatype") or "FP32"), [name], 1)

    @property
    def label(self) -> str:
        dims = ", ".join("batch" if d == -1 else str(d) for d in self.shape)
        cols = (
            f" → {', '.join(self.columns)}" if self.columns and self.columns != [self.name] else ""
        )
        return f"{self.name}  {self.dtype} [{dims}]{cols}"

    @property
    def entry_shape(self) -> list[int]:
        """The shape of one entry of a row: () for a scalar column, else a V2 input's
        shape without its batch dimension."""
        if not self.v2:  # a messagetype's schema shape is the row's: one entry per column
            return []
        dims = self.shape[1:] if self.shape and self.shape[0] == -1 else self.shape
        return [] if dims in ([], [1]) else [max(d, 1) for d in dims]

    def random(self, rows: int = 1, seed: int | None = None) -> list[list[Any]]:
        import numpy as np

        rng = np.random.default_rng(seed)
        size = (rows, self.width, *self.entry_shape)
        if self.dtype in _INT_TYPES:
            arr: Any = rng.integers(0, 10, size=size)
        elif self.dtype == "BOOL":
            arr = rng.integers(0, 2, size=size).astype(bool)
        elif self.dtype == "BYTES":
            arr = np.full(size, "text", dtype=object)
        else:
            arr = np.round(rng.standard_normal(size), 4)
        return [list(r) for r in arr.tolist()]

    def set_rows(self, value: Any, source: str = "set") -> None:
        """Rows from a DataFrame, an array, a list, or JSON text: each row gets ``width``
        entries (a 1-d value of a one-column field is one row per item)."""
        import numpy as np

        if isinstance(value, str):
            value = json.loads(value)
        if hasattr(value, "to_numpy") and hasattr(value, "columns"):
            value = value.to_numpy()
        arr = np.asarray(value, dtype=object)
        if arr.ndim == 0:
            arr = arr.reshape(1, 1)
        elif arr.ndim == 1:
            arr = arr.reshape(1, -1) if self.width > 1 else arr.reshape(-1, 1)
        if arr.shape[1] != self.width:
            raise ValueError(
                f"input {self.name!r} takes {self.width} value(s) per row "
                f"({', '.join(self.columns) or 'unnamed'}); got {arr.shape[1]}"
            )
        self.value = [[_plain(x) for x in row] for row in arr.tolist()]
        self.source = source


def _dims(name: str, shape: Any) -> list[int]:
    """An input's declared shape; ValueError unless it is a list of integers."""
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise ValueError(
            f"{name!r} has shape {shape!r}: a shape is a list of integers, -1 for the batch"
        )
    return shape


def _plain(x: Any) -> Any:
    from easlab.wire.json import _plain as plain

    return plain(x)


class SeldonDebugSession(DebugSession):
    """A ``DebugSession`` for a Seldon service: fields from ``/metadata``, a SeldonMessage
    as the body, each answer's ``meta`` read back."""

    metadata: dict[str, Any] | None
    metadata_error: str | None
    seldon_fields: list[SeldonField]

    def editor(self) -> SeldonEditor:
        """The widget's body editor for this session (``DebugWidget._make_editor``)."""
        return SeldonEditor(self)

    def answer_html(self, record: Any) -> str:
        """What the widget shows under an answer (``DebugWidget._answer_html``)."""
        return seldon_answer_html(self, record)

    def _read_signature(self) -> None:
        self.signature = self.target.signature()
        old = {f.name: f for f in getattr(self, "seldon_fields", [])}
        self.metadata, self.metadata_error = self._read_metadata()
        inputs = (self.metadata or {}).get("inputs") or []
        try:
            self.seldon_fields = [SeldonField.from_metadata(i, s) for i, s in enumerate(inputs)]
        except (TypeError, ValueError) as exc:  # no form: the body is the JSON text box
            self.seldon_fields = []
            self.metadata_error = f"/metadata declares inputs the form cannot follow: {exc}"
        for f in self.seldon_fields:  # values already filled survive a new token or kernel
            before = old.get(f.name)
            if before is not None and before.value is not None and before.width == f.width:
                f.value, f.source = before.value, before.source
        self.fields = []  # the tensor form of DebugSession stays empty

    def _read_metadata(self) -> tuple[dict[str, Any] | None, str | None]:
        """``GET {service}/metadata`` through the client; else the metadata the signature
        carries (``init_metadata()``), with why ``/metadata`` did not answer."""
        from easlab.client.transport import TransportError

        if self.target.signature_error is not None:
            return None, str(self.target.signature_error)
        error: str
        try:
            resp = self.target.client.send(b"", method="GET", path="/metadata")
        except TransportError as exc:
            error = str(exc)
        else:
            if resp.status == 200:
                try:
                    doc = json.loads(resp.body)
                except ValueError:
                    doc = None
                if isinstance(doc, dict):
                    return doc, None
            error = f"/metadata answered {resp.status}: {resp.text.strip()[:200]}"
        fallback = (self.signature or {}).get("metadata")
        return (fallback if isinstance(fallback, dict) else None), error

    # -- the body ---------------------------------------------------------------------------
    @property
    def is_form(self) -> bool:
        return bool(self.seldon_fields)

    def seldon_field(self, name: str) -> SeldonField:
        for f in self.seldon_fields:
            if f.name == name:
                return f
        names = [f.name for f in self.seldon_fields]
        raise KeyError(f"no input {name!r}; the metadata declares {names}")

    def fill_random(self, name: str | None = None, batch: int = 1, seed: int | None = None) -> None:
        for f in [self.seldon_field(name)] if name else self.seldon_fields:
            f.value, f.source = f.random(batch, seed), "random"

    def set_value(self, name: str, value: Any) -> None:
        self.seldon_field(name).set_rows(value)

    def candidates(self, name: str) -> list[str]:
        """Notebook DataFrames and arrays whose rows fit input ``name``."""
        f = self.seldon_field(name)
        out = []
        for key, v in self.namespace.items():
            shape = getattr(v, "shape", None)
            if (
                key.startswith("_")
                or shape is None
                or type(v).__module__.split(".")[0]
                not in (
                    "numpy",
                    "pandas",
                )
            ):
                continue
            if (len(shape) == 2 and shape[1] == f.width) or (len(shape) == 1 and f.width == 1):
                out.append(key)
        return sorted(out)

    def fill_from(self, name: str, variable: str) -> None:
        if variable not in self.namespace:
            raise ValueError(f"no variable {variable!r} in the notebook")
        self.seldon_field(name).set_rows(self.namespace[variable], f"variable {variable}")

    def message(self) -> dict[str, Any]:
        """The SeldonMessage of the form: ``{"data": {"names", "ndarray"}}``, the fields'
        columns side by side."""
        missing = [f.name for f in self.seldon_fields if f.value is None]
        if missing:
            raise ValueError(f"fill input(s) {missing} first (random data, a variable or JSON)")
        counts = {len(f.value or []) for f in self.seldon_fields}
        if len(counts) > 1:
            raise ValueError("every input needs the same number of rows")
        (count,) = counts
        rows = [sum(((f.value or [])[i] for f in self.seldon_fields), []) for i in range(count)]
        names = [c for f in self.seldon_fields for c in f.columns]
        data: dict[str, Any] = {"ndarray": rows}
        if len(names) == len(rows[0] if rows else names):
            data = {"names": names, **data}
        return {"data": data}

    def body_value(self) -> Any:
        """The form's SeldonMessage; without declared inputs, the JSON text box: a dict is
        a SeldonMessage as written, a list an ndarray."""
        if self.is_form:
            return self.message()
        text = self.raw_text.strip()
        if not text:
            raise ValueError('write a SeldonMessage, e.g. {"data": {"ndarray": [[1, 2]]}}')
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"the body is not JSON: {exc}") from None
        if isinstance(value, list):
            return {"data": {"ndarray": value}}
        if not isinstance(value, dict):
            raise ValueError("a Seldon body is a JSON object (a SeldonMessage) or a list")
        return value

    def curl(self) -> str:
        """A curl command for the last (or current) SeldonMessage: with ``Content-Type:
        application/json``, since curl's default form type makes a Seldon component look
        for a ``json=`` form field (400 ``MICROSERVICE_BAD_DATA``)."""
        from easlab.notebook import snippets

        body, _ = self._snippet_record()
        return snippets.curl_command(
            self.target.url, self.target.token, body, content_type="application/json"
        )

    # -- the answer -------------------------------------------------------------------------
    @staticmethod
    def answer_json(record: _record.CallRecord) -> dict[str, Any] | None:
        if record.response is None:
            return None
        try:
            doc = json.loads(record.response.body or b"null")
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def answer_meta(self, record: _record.CallRecord | None = None) -> dict[str, Any]:
        """The ``meta`` of an answer (the last one by default): tags, metrics, requestPath."""
        record = record or self.last
        doc = self.answer_json(record) if record is not None else None
        meta = (doc or {}).get("meta")
        return meta if isinstance(meta, dict) else {}

    def answer_table(self, record: _record.CallRecord | None = None) -> Any:
        """The answer's data as a DataFrame (ndarray/tensor), else what ``data`` holds."""
        record = record or self.last
        if record is None or record.status != 200:
            return None
        return record.value


def _meta_html(meta: dict[str, Any]) -> str:
    parts = []
    tags = meta.get("tags")
    if isinstance(tags, dict) and tags:
        rows = "".join(
            f"<tr><td>{escape(k)}</td><td>{escape(json.dumps(v))}</td></tr>"
            for k, v in tags.items()
        )
        parts.append(f"<b>tags</b><table class='seldon-tags'>{rows}</table>")
    metrics = meta.get("metrics")
    if isinstance(metrics, list) and metrics:
        rows = "".join(
            f"<tr><td>{escape(m.get('type', ''))}</td><td>{escape(m.get('key', ''))}</td>"
            f"<td style='text-align:right'>{escape(m.get('value', ''))}</td></tr>"
            for m in metrics
            if isinstance(m, dict)
        )
        head = "<tr><th>type</th><th>key</th><th>value</th></tr>"
        parts.append(f"<b>metrics</b><table class='seldon-metrics'>{head}{rows}</table>")
    path = meta.get("requestPath")
    if isinstance(path, dict) and path:
        rows = "".join(
            f"<tr><td>{escape(k)}</td><td><code>{escape(v)}</code></td></tr>"
            for k, v in path.items()
        )
        parts.append(f"<b>requestPath</b><table class='seldon-path'>{rows}</table>")
    if not parts:
        return "<small>meta: (no tags, metrics or requestPath)</small>"
    return "<div><b>meta</b></div>" + "".join(parts)


class SeldonInputRow(w.HBox):
    """One declared input: its label, the rows as JSON (editable), fill from a variable or
    random data."""

    filled = traitlets.Unicode("")

    def __init__(self, session: SeldonDebugSession, field: SeldonField) -> None:
        self.session = session
        self.field = field
        self.source = w.Dropdown(options=self._options(), layout=w.Layout(width="200px"))
        self.fill_button = w.Button(description="fill", layout=w.Layout(width="60px"))
        self.text = w.Text(
            placeholder="rows as JSON, e.g. [[1, 2]]",
            continuous_update=False,
            layout=w.Layout(width="280px"),
        )
        if field.value is not None:
            self.text.value = json.dumps(field.value)
        #: why the rows typed last cannot be sent (Send refuses until they are fixed)
        self.problem: str | None = None
        self.note = w.HTML()
        self.fill_button.on_click(self.fill)
        self.text.observe(self._typed, names=["value"])
        super().__init__(
            [
                w.HTML(f"<code>{escape(field.label)}</code>", layout=w.Layout(width="300px")),
                self.text,
                self.source,
                self.fill_button,
                self.note,
            ]
        )

    def _say(self, problem: str | None) -> None:
        self.problem = problem
        self.note.value = (
            f"<small style='color:#b3261e'>✖ {escape(problem)}</small>" if problem else ""
        )

    def _options(self) -> list[str]:
        return ["random data"] + [f"variable {v}" for v in self.session.candidates(self.field.name)]

    def fill(self, _button: Any = None) -> None:
        choice = self.source.value or "random data"
        if choice.startswith("variable "):
            self.session.fill_from(self.field.name, choice[len("variable ") :])
        else:
            self.session.fill_random(self.field.name)
        self.text.value = json.dumps(self.field.value)
        self.filled = f"{self.field.source} {self.text.value}"
        self._say(None)

    def _typed(self, change: Any) -> None:
        if change["new"].strip() and change["new"] != json.dumps(self.field.value):
            try:
                self.field.set_rows(change["new"], "typed")
            except ValueError as exc:  # not JSON, or rows of another width: said, not sent
                self._say(f"input {self.field.name!r}: the rows typed cannot be sent: {exc}")
                return
            self._say(None)
            self.filled = f"typed {change['new']}"


class SeldonEditor(BodyEditor):
    """One row per declared input, or a JSON text box when the metadata declares none."""

    def __init__(self, session: DebugSession) -> None:
        assert isinstance(session, SeldonDebugSession)
        self.session = session
        self.rows = [SeldonInputRow(session, f) for f in session.seldon_fields]  # type: ignore[misc]
        self.raw = w.Textarea(
            placeholder='SeldonMessage JSON, e.g. {"data": {"ndarray": [[1, 2]]}}',
            layout=w.Layout(width="100%", height="120px"),
        )
        note = ""
        if session.metadata_error:
            note = f" <small style='color:#9a6700'>({escape(session.metadata_error)})</small>"
        if self.rows:
            title = f"<b>inputs</b> <small>(Seldon /metadata → data.ndarray)</small>{note}"
            children: list[Any] = [w.HTML(title), *self.rows]
        else:
            title = f"<b>body</b> <small>(SeldonMessage JSON; no inputs declared)</small>{note}"
            children = [w.HTML(title), self.raw]
        w.VBox.__init__(self, children)

    def sync(self) -> None:
        if not self.rows:
            self.session.raw_text = self.raw.value
        for row in self.rows:
            if row.problem is not None:
                raise ValueError(f"{row.problem} — fix them, or fill the input")
            if row.field.value is None:
                row.fill()


def seldon_answer_html(session: SeldonDebugSession, record: Any) -> str:
    """Under the response: the answer's data as a table and its meta (tags, metrics,
    requestPath); a Seldon error's ``status`` for a failed call."""
    doc = session.answer_json(record)
    if record.status != 200:
        status = (doc or {}).get("status")
        return value_html(status) if status else ""
    value = record.value
    if isinstance(value, dict) and "data" in value:
        value = value["data"]
    data = f"<div><b>data</b></div>{value_html(value)}"
    return data + _meta_html(session.answer_meta(record))


class SeldonDebugWidget(DebugWidget):
    """The debug widget of a Seldon service: ``DebugWidget`` picks the Seldon editor and
    answer view from its ``SeldonDebugSession`` (so a generic widget whose signature
    turns out to be Seldon, after a token, switches too)."""

    session: SeldonDebugSession


def seldon_widget(
    target: Any, token: str | None = None, namespace: dict[str, Any] | None = None
) -> SeldonDebugWidget:
    """The debug widget of a Seldon service (``easlab.debug`` routes here)."""
    return SeldonDebugWidget(SeldonDebugSession(target, token=token, namespace=namespace))


def _upgrade(session: Any) -> SeldonDebugSession | None:
    """A generic session whose signature turns out to say ``seldon``, as a Seldon one."""
    from easlab.wire.seldon import is_seldon_signature

    if isinstance(session, SeldonDebugSession) or not is_seldon_signature(session.signature):
        return None
    return SeldonDebugSession(session.target, namespace=session.namespace)


SESSION_UPGRADES.append(_upgrade)
