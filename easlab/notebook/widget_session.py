"""The debug widget's logic, with no widgets: what to send, the exchange, the history.

``DebugSession`` is what tests drive without a browser; the widget
(``easlab.notebook.widget``) only shows its state and calls its methods.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from easlab.notebook import _record, _target, display, snippets

__all__ = ["DebugSession", "InputField", "numpy_dtype_for"]


def numpy_dtype_for(wire_type: str) -> str:
    """numpy dtype name of a signature type such as ``DT_FLOAT`` (SPEC.md §3)."""
    from easlab.wire import dtypes

    code = getattr(dtypes, str(wire_type), None)
    if not isinstance(code, int) or code not in dtypes.TF_WIRE:
        raise ValueError(f"signature type {wire_type!r} is not a TF dtype this client can fill")
    return dtypes.TF_WIRE[code][0]


@dataclass
class InputField:
    """One input of the signature form: name, declared shape and dtype, and its value."""

    name: str
    shape: list[int]
    wire_type: str
    value: Any = None  # a numpy array once filled
    source: str = ""  # "random", "variable x", ...

    @property
    def dtype(self) -> str:
        return numpy_dtype_for(self.wire_type)

    @property
    def label(self) -> str:
        dims = ", ".join("batch" if d == -1 else str(d) for d in self.shape)
        return f"{self.name}  {self.wire_type} [{dims}]"

    def concrete_shape(self, batch: int = 1) -> tuple[int, ...]:
        return tuple(batch if d < 0 else d for d in self.shape)

    def dtype_problem(self, arr: Any, variable: str = "x") -> str | None:
        """Why ``arr``'s dtype cannot fill this input, as ``%%eas predict`` refuses it (a
        numpy array is sent in its own dtype, never cast: float64 for a float32 input is
        refused); None when it can."""
        from easlab.wire.dtypes import is_string_dtype

        got = getattr(arr, "dtype", None)
        if got is None:
            return None
        want = self.dtype
        if want in ("object", "string", "bytes") or want.startswith(("S", "U")):
            if is_string_dtype(got):
                return None
            return f"input {self.name!r}: expected {self.wire_type} (strings), received {got}"
        if str(got) == want:
            return None
        module = "ml_dtypes" if want == "bfloat16" else "np"
        if got.kind in "OSU":
            fix = f"this input takes numbers, not text: convert {variable} to {want} first"
        else:
            fix = f"cast it, e.g. {variable}.astype({module}.{want})"
        return f"input {self.name!r}: expected {self.wire_type} ({want}), received {got}; {fix}"

    def accepts(self, arr: Any) -> bool:
        """True when ``arr``'s rank and fixed dimensions match the declared shape."""
        shape = getattr(arr, "shape", None)
        if shape is None or len(shape) != len(self.shape):
            return False
        return all(d < 0 or d == s for d, s in zip(self.shape, shape, strict=True))


def _input_field(n: int, spec: Any) -> InputField:
    """The form field of the signature's ``n``-th input; ValueError saying what in it is not
    an input (SPEC.md §1: a name, integer dims with -1 for the batch, a DT_ type)."""
    name = spec.get("name") if isinstance(spec, dict) else None
    if not isinstance(name, str) or not name:
        raise ValueError(f"input #{n} has no name: {spec!r}")
    shape = spec.get("shape", [])
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise ValueError(
            f"input {name!r} has shape {shape!r}: a shape is a list of integers, "
            "-1 for the batch dimension"
        )
    return InputField(name, shape, str(spec.get("type", "DT_FLOAT")))


class FollowsKernel:
    """What a debug session of any kind needs when the local kernel goes away: tell that
    it is down, and find the service again on the running (or a new) kernel.

    A session using it has ``target`` (``_target.Target``) and ``set_token(token)``.
    """

    target: _target.Target

    def set_token(self, token: str | None) -> None:  # pragma: no cover - each kind has one
        raise NotImplementedError

    def kernel_is_down(self) -> bool:
        """True when the service is on this machine and nothing listens on its port.

        That is a local kernel that was stopped (a tutorial's clean-up cell, a
        restart); a remote endpoint that refuses is a network problem, not this.
        """
        from easlab.client.local import kernel_is_down

        return kernel_is_down(self.target.url)

    def relocate(self, start: bool = False) -> str:
        """Find the service on the running local kernel (starting one with ``start``).

        Returns what happened, in a sentence. When the kernel has the service
        (its URL may have changed), the session follows it: same token unless
        the kernel gives one, signature reread. A new kernel starts empty, so
        the sentence then says to run the cell that creates the service.
        """
        from easlab.client.connect import connect
        from easlab.errors import EaslabError, KernelNotRunning

        kernel = connect(start=start)
        name = self.target.service_name
        try:
            desc = kernel.describe(name)
        except KernelNotRunning:
            raise
        except EaslabError:
            return (
                f"the kernel at {kernel.endpoint} is running, but has no service {name!r} "
                "(a new kernel starts empty): run the cell that creates it, then Send"
            )
        url = desc.get("url") if isinstance(desc, dict) else getattr(desc, "url", None)
        token = desc.get("token") if isinstance(desc, dict) else getattr(desc, "token", None)
        self.target.close()
        if url:
            self.target.url = str(url).rstrip("/")
        self.target.get_runs_model = _target.get_runs_model(desc)
        self.set_token(token or self.target.token)
        return f"service {name!r} is running on the kernel at {kernel.endpoint}"


class DebugSession(FollowsKernel):
    """Build a request for a service, send it, and keep every exchange.

    ``target`` is a ``Service``, a predict URL (with ``token``) or a service
    name on the local kernel. ``namespace`` (the notebook's variables) offers
    arrays to fill inputs from.
    """

    def __init__(
        self,
        target: Any,
        token: str | None = None,
        namespace: dict[str, Any] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.target = _target.resolve(target, token=token, timeout=timeout)
        self.namespace = namespace if namespace is not None else {}
        self.signature: dict[str, Any] | None = None
        self.fields: list[InputField] = []
        #: why the signature read makes no form (an input with no name, a dimension that
        #: is no integer); the body is then sent as written
        self.signature_problem: str | None = None
        self._read_signature()
        self.raw_text = ""
        self.signature_name: str | None = None
        self.fetch: list[str] | None = None
        self.history: list[_record.CallRecord] = []

    def _read_signature(self) -> None:
        """(Re)read the signature and build one form field per input of a tensor service."""
        self.signature = self.target.signature()
        # a form per input for a tensor service; other bodies (PMML's JSON too) are text
        inputs = (self.signature or {}).get("inputs", []) if self.target.is_tensor else []
        old = {f.name: f for f in self.fields}
        self.signature_problem = None
        try:
            self.fields = [_input_field(n, i) for n, i in enumerate(inputs, 1)]
        except ValueError as exc:  # a signature the form cannot follow: the body is text
            self.fields = []
            self.signature_problem = (
                f"service {self.target.service_name!r} answers a signature the form cannot "
                f"follow: {exc}"
            )
        for f in self.fields:  # keep values already filled for inputs that stay the same
            before = old.get(f.name)
            if before is not None and before.value is not None and f.accepts(before.value):
                f.value, f.source = before.value, before.source

    # -- the token and the kernel -----------------------------------------------------------
    def set_token(self, token: str | None) -> None:
        """Use ``token`` from now on: later sends are signed with it, the signature is reread.

        After a 401 on the signature (a wrong token) this is how the form comes back.
        """
        self.target.close()
        self.target.token = token or None
        self.target.signature_error = None
        self._read_signature()

    # -- the body ---------------------------------------------------------------------------
    @property
    def is_tensor(self) -> bool:
        return bool(self.fields)

    @property
    def format(self) -> str | None:
        return str(self.signature.get("format") or "tf") if self.signature else None

    def field(self, name: str) -> InputField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"no input {name!r}; the signature has {[f.name for f in self.fields]}")

    def fill_random(self, name: str | None = None, batch: int = 1, seed: int | None = None) -> None:
        """Fill one input (or all) with random data of the declared shape and dtype."""
        import numpy as np

        from easlab.wire.dtypes import numpy_dtype

        rng = np.random.default_rng(seed)
        for f in [self.field(name)] if name else self.fields:
            shape = f.concrete_shape(batch)
            # bfloat16 is ml_dtypes' (numpy has no name for it; its kind is "V"), else float32
            dtype = numpy_dtype(f.dtype)
            if dtype.kind == "f" or f.dtype == "bfloat16":
                value = rng.standard_normal(shape).astype(dtype)
            elif dtype.kind in "iu":
                value = rng.integers(0, 10, size=shape).astype(dtype)
            elif dtype.kind == "b":
                value = rng.integers(0, 2, size=shape).astype(bool)
            elif dtype.kind == "c":
                value = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
            else:
                value = np.array([b"text"] * int(np.prod(shape)), dtype=object).reshape(shape)
            f.value, f.source = value, "random"

    def candidates(self, name: str) -> list[str]:
        """Notebook variables holding an array whose shape fits input ``name`` (its dtype
        may not: ``dtype_note``)."""
        f = self.field(name)
        return sorted(
            k
            for k, v in self.namespace.items()
            if not k.startswith("_") and type(v).__module__ == "numpy" and f.accepts(v)
        )

    def dtype_note(self, name: str, variable: str) -> str | None:
        """A few words for the variable list when ``variable``'s dtype is not input
        ``name``'s (``float64, not float32``): picking it is refused, as in
        ``%%eas predict``; None when it fits."""
        f = self.field(name)
        arr = self.namespace.get(variable)
        if f.dtype_problem(arr) is None:
            return None
        return f"{getattr(arr, 'dtype', '?')}, not {f.dtype}"

    def fill_from(self, name: str, variable: str) -> None:
        """Fill input ``name`` from the notebook variable ``variable``."""
        import numpy as np

        f = self.field(name)
        if variable not in self.namespace:
            raise ValueError(f"no variable {variable!r} in the notebook")
        arr = np.asarray(self.namespace[variable])
        if not f.accepts(arr):
            raise ValueError(
                f"{variable} has shape {list(arr.shape)}; input {name!r} expects {f.shape} "
                "(-1 is the batch dimension)"
            )
        # refused here, next to the variable list, rather than at Send
        problem = f.dtype_problem(arr, variable)
        if problem is not None:
            raise ValueError(problem)
        f.value, f.source = arr, f"variable {variable}"

    def set_value(self, name: str, value: Any) -> None:
        import numpy as np

        f = self.field(name)
        f.value, f.source = np.asarray(value), "set"

    def body_value(self) -> Any:
        """What ``send`` encodes: the filled inputs, or the raw text."""
        if self.is_tensor:
            missing = [f.name for f in self.fields if f.value is None]
            if missing:
                raise ValueError(f"fill input(s) {missing} first (from a variable or random data)")
            return {f.name: f.value for f in self.fields}
        return self.raw_text

    # -- sending ----------------------------------------------------------------------------
    def send(self) -> _record.CallRecord:
        """Send the current body; the record is appended to ``history`` (errors too)."""
        record = _record.call(self.target, self.body_value(), self.signature_name, self.fetch)
        self.history.append(record)
        return record

    @property
    def last(self) -> _record.CallRecord | None:
        return self.history[-1] if self.history else None

    def history_df(self) -> Any:
        import pandas as pd

        rows = [
            {
                "#": i + 1,
                "time": r.when.strftime("%H:%M:%S"),
                "status": r.status,
                "total ms": round(r.total_ms, 2),
                "network+server ms": round(r.network_ms, 2),
                "request bytes": len(r.sent.body),
                "response bytes": len(r.response.body) if r.response is not None else 0,
                "body": _describe_body(r),
            }
            for i, r in enumerate(self.history)
        ]
        return pd.DataFrame(
            rows,
            columns=[
                "#",
                "time",
                "status",
                "total ms",
                "network+server ms",
                "request bytes",
                "response bytes",
                "body",
            ],
        )

    # -- rendering --------------------------------------------------------------------------
    @staticmethod
    def request_text(record: _record.CallRecord, show_token: bool = False) -> str:
        """The request as it went out: request line, headers, body (text or a hex dump)."""
        from easlab.notebook.display import hexdump, mask_token

        sent = record.sent
        lines = [f"{sent.method} {sent.target} HTTP/1.1", f"Host: {sent.host}"]
        for key, value in sent.headers.items():
            if key.lower() == "authorization" and not value.startswith("EAS ") and not show_token:
                value = mask_token(value)
            lines.append(f"{key}: {value}")
        lines.append("")
        lines.append(_body_text(sent.body, record.kind != "tensor", hexdump))
        return "\n".join(lines)

    @staticmethod
    def response_text(record: _record.CallRecord) -> str:
        """Status line, headers and the body (JSON pretty-printed, binary as hex)."""
        from easlab.notebook.display import hexdump

        resp = record.response
        if resp is None:
            return f"(no response) {record.error}"
        lines = [f"HTTP/1.1 {resp.status} {resp.reason}"]
        lines += [f"{k}: {v}" for k, v in resp.headers.items()]
        lines.append("")
        lines.append(_body_text(resp.body, record.kind not in ("tensor", "request"), hexdump))
        return "\n".join(lines)

    # -- copy as ----------------------------------------------------------------------------
    def _snippet_record(self) -> tuple[bytes, dict[str, Any] | None]:
        """The body and the named arrays of the last call, else of the current body."""
        if self.last is not None:
            return self.last.sent.body, self.last.inputs
        from easlab.wire.build import to_request

        request = to_request(
            self.body_value(),
            self.target.signature_source,
            signature_name=self.signature_name,
            fetch=self.fetch,
        )
        return _record.body_of(request), request.named_inputs

    def curl(self) -> str:
        """A curl command sending the last request's bytes, carried in the command itself."""
        body, _ = self._snippet_record()
        return snippets.curl_command(self.target.url, self.target.token, body)

    def python_easlab(self) -> str:
        """easlab code making the same call (numpy inputs, or the raw body)."""
        body, inputs = self._snippet_record()
        return snippets.python_easlab(
            self.target.endpoint,
            self.target.service_name,
            self.target.token,
            body,
            inputs=inputs,
            signature_name=self.signature_name,
            fetch=self.fetch,
        )

    def python_official(self) -> str:
        """Code for the official ``eas_prediction`` client making the same call."""
        body, inputs = self._snippet_record()
        return snippets.python_official(
            self.target.endpoint,
            self.target.service_name,
            self.target.token,
            body,
            inputs=inputs,
            fmt=self.format,
            signature=self.signature,
            signature_name=self.signature_name,
            fetch=self.fetch,
        )


def _describe_body(record: _record.CallRecord) -> str:
    if record.inputs:
        return ", ".join(f"{k}{list(v.shape)}" for k, v in record.inputs.items())
    body = record.sent.body
    return body[:40].decode("utf-8", "replace") + ("…" if len(body) > 40 else "")


#: the most of a text body a pane shows (the whole body stays in ``record.response``)
PANE_TEXT_CHARS = display.TEXT_CHARS


def _body_text(body: bytes, maybe_text: bool, hexdump: Any) -> str:
    if not body:
        return "(empty body)"
    if maybe_text:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return hexdump(body)
        if len(body) <= PANE_TEXT_CHARS * 4:  # pretty-printing a huge JSON is not worth it
            try:
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except ValueError:
                pass
        return display.cut_text(text, f"{len(body):,} bytes in all")
    return hexdump(body)
