""" "Copy as" generators: the same call as a ``curl`` command, easlab code, official-client code.

Pure functions on (endpoint, service name, token, what is sent): the debug
widget shows their output, and tests run it to check all three get one answer.
"""

from __future__ import annotations

import base64
import keyword
import shlex
from collections.abc import Iterable
from typing import Any

__all__ = ["curl_command", "inline_text", "python_easlab", "python_official", "INLINE_LIMIT"]

# tensors up to this many values are written as lists; bigger ones as base64 of their bytes
INLINE_LIMIT = 256

# numpy dtype name -> the dtype constant's name on the official request classes
_TF_DTYPES = {
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
    "int8": "DT_INT8",
    "int16": "DT_INT16",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "uint8": "DT_UINT8",
    "uint16": "DT_UINT16",
    "bool": "DT_BOOL",
    "object": "DT_STRING",
    "bytes": "DT_STRING",
}
# the official TorchRequest has 7 dtype constants (SPEC.md §2)
_TORCH_DTYPES = {
    k: v
    for k, v in _TF_DTYPES.items()
    if k in {"float32", "float64", "int8", "int16", "int32", "int64", "uint8"}
}


INLINE_TEXT_LIMIT = 2000
# base64 lines in a curl command are wrapped at this width (``base64 --decode`` ignores newlines)
B64_WIDTH = 76


def inline_text(body: bytes) -> str | None:
    """The body as text to put in the command itself, or None when it needs base64.

    Short printable UTF-8 (JSON, a sentence) reads best as it is; binary bodies,
    long ones, and text starting with ``@`` (curl would read it as a file name)
    are carried as base64 instead.
    """
    if len(body) > INLINE_TEXT_LIMIT or body.startswith(b"@"):
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ch < " " and ch not in "\n\t" for ch in text) or "\x7f" in text:
        return None
    return text


def curl_command(
    url: str,
    token: str | None,
    body: bytes,
    content_type: str | None = None,
) -> str:
    """A ``curl`` call sending ``body`` byte for byte with the plain-token header.

    The body travels inside the command, so it runs on any machine: short text
    as a quoted argument, anything else as base64 decoded into curl's stdin
    (``printf %s '…' | base64 --decode | curl … --data-binary @-``). The kernel
    (like EAS) accepts the plain token in ``Authorization`` (SPEC.md §1), so the
    command needs no signature and can be rerun at any time.
    """
    parts = ["curl", "-sS", "-X", "POST", shlex.quote(url)]
    if token:
        parts += ["-H", shlex.quote(f"Authorization: {token}")]
    if content_type:
        parts += ["-H", shlex.quote(f"Content-Type: {content_type}")]
    text = inline_text(body)
    if text is not None:
        return " ".join([*parts, "--data-binary", shlex.quote(text)])
    encoded = base64.b64encode(body).decode("ascii")
    # the base64 alphabet (A-Z a-z 0-9 + / =) needs no quoting inside single quotes
    return f"printf %s '{encoded}' | base64 --decode | " + " ".join([*parts, "--data-binary", "@-"])


def _dtype_name(arr: Any) -> str:
    kind = arr.dtype.kind
    if kind in "SOU":
        return "bytes"
    return str(arr.dtype)


def _array_literal(arr: Any) -> str:
    """Python source that rebuilds ``arr``: a list when small, else base64 of its bytes."""
    import numpy as np

    a = np.asarray(arr)
    shape = tuple(a.shape)
    if a.dtype.name == "bfloat16":
        # numpy has no np.bfloat16: ml_dtypes' (which made this array), from float32, exactly
        return f"{_array_literal(a.astype(np.float32))}.astype(ml_dtypes.bfloat16)"
    if a.dtype.kind in "SOU":
        items = [x if isinstance(x, bytes) else str(x).encode() for x in a.reshape(-1)]
        return f"np.array({items!r}, dtype=object).reshape({shape!r})"
    if a.size <= INLINE_LIMIT and a.dtype.kind in "biuf":
        values = repr(a.reshape(-1).tolist())
        return f"np.array({values}, dtype=np.{a.dtype.name}).reshape({shape!r})"
    # little-endian bytes with an explicit dtype string: the same array on any machine
    le = a.astype(a.dtype.newbyteorder("<"), copy=False)
    data = base64.b64encode(np.ascontiguousarray(le).tobytes()).decode("ascii")
    return (
        f"np.frombuffer(base64.b64decode({data!r}), dtype={le.dtype.str!r})"
        f".reshape({shape!r}).astype(np.{a.dtype.name})"
    )


def _body_source(body: bytes) -> str:
    """Python source for the body bytes: a literal when short, else base64."""
    if len(body) <= 512:
        return repr(body)
    return f"base64.b64decode({base64.b64encode(body).decode('ascii')!r})"


def _finish(lines: list[str]) -> str:
    """Join the snippet, importing base64 and ml_dtypes when an inline body or array uses them."""
    if any("ml_dtypes." in line for line in lines):
        lines = ["import ml_dtypes", *lines]
    if any("base64.b64decode(" in line for line in lines):
        lines = ["import base64", *lines]
    return "\n".join(lines) + "\n"


def _client_lines(endpoint: str, service_name: str, token: str | None) -> list[str]:
    lines = [
        f"client = PredictClient({endpoint!r}, {service_name!r})",
    ]
    if token:
        lines.append(f"client.set_token({token!r})")
    lines.append("client.init()")
    return lines


def python_easlab(
    endpoint: str,
    service_name: str,
    token: str | None,
    body: bytes,
    inputs: dict[str, Any] | None = None,
    signature_name: str | None = None,
    fetch: list[str] | None = None,
) -> str:
    """easlab code making the same call; ``resp`` holds the answer, and it is printed.

    With ``inputs`` (a dict of numpy arrays) the code passes numpy straight to
    ``predict``, which encodes it from the service signature; otherwise it
    sends the raw body.
    """
    lines = ["import numpy as np", "from easlab import PredictClient"]
    if inputs is None:
        lines[1] = "from easlab import PredictClient, StringRequest"
    lines.append("")
    lines += _client_lines(endpoint, service_name, token)
    if inputs is not None:
        names = []
        variables = _variables(inputs)
        for name, arr in inputs.items():
            var = variables[name]
            source = _array_literal(arr)
            lines.append(f"{var} = {source}")
            names.append(f"{name!r}: {var}")
        extra = ""
        if signature_name:
            extra += f", signature_name={signature_name!r}"
        if fetch:
            extra += f", fetch={list(fetch)!r}"
        lines.append(f"resp = client.predict({{{', '.join(names)}}}{extra})")
        lines.append("outputs = resp.to_numpy()  # {output name: numpy array}")
        lines.append("print(outputs)")
    else:
        lines.append(f"resp = client.predict(StringRequest({_body_source(body)}))")
        lines.append("print(resp.response_data)")
    return _finish(lines)


def python_official(
    endpoint: str,
    service_name: str,
    token: str | None,
    body: bytes,
    inputs: dict[str, Any] | None = None,
    fmt: str | None = None,
    signature: dict[str, Any] | None = None,
    signature_name: str | None = None,
    fetch: list[str] | None = None,
) -> str:
    """Code for the official ``eas_prediction`` client making the same call.

    TF and Torch requests are written with ``add_feed`` (flat values, as that
    client expects); other formats send the same serialized bytes.
    """
    if inputs is not None and fmt in ("tf", "torch") and _official_can_feed(inputs, fmt):
        return _official_tensor(
            endpoint, service_name, token, inputs, fmt, signature, signature_name, fetch
        )
    lines = [
        "from eas_prediction import PredictClient, StringRequest",
        "",
        *_client_lines(endpoint, service_name, token),
        f"resp = client.predict(StringRequest({_body_source(body)}))",
        "print(resp.response_data)",
    ]
    return _finish(lines)


def _official_can_feed(inputs: dict[str, Any], fmt: str) -> bool:
    table = _TF_DTYPES if fmt == "tf" else _TORCH_DTYPES
    return all(_dtype_name(a) in table for a in inputs.values())


def _official_tensor(
    endpoint: str,
    service_name: str,
    token: str | None,
    inputs: dict[str, Any],
    fmt: str,
    signature: dict[str, Any] | None,
    signature_name: str | None,
    fetch: list[str] | None,
) -> str:
    cls = "TFRequest" if fmt == "tf" else "TorchRequest"
    lines = ["import numpy as np", f"from eas_prediction import PredictClient, {cls}", ""]
    lines += _client_lines(endpoint, service_name, token)
    sig_inputs = [i["name"] for i in (signature or {}).get("inputs", [])]
    if fmt == "tf":
        sig_name = signature_name or (signature or {}).get("signature_name") or ""
        lines.append(f"req = TFRequest({sig_name!r})")
    else:
        lines.append("req = TorchRequest()")
    variables = _variables(inputs)
    for name, arr in inputs.items():
        var = variables[name]
        source = _array_literal(arr)
        lines.append(f"{var} = {source}")
        dtype = _TF_DTYPES[_dtype_name(arr)]
        values = f"{var}.ravel().tolist()"
        if fmt == "tf":
            lines.append(f"req.add_feed({name!r}, list({var}.shape), {cls}.{dtype}, {values})")
        else:
            # Torch feeds are positional: the index is the input's place in the signature
            index = sig_inputs.index(name) if name in sig_inputs else list(inputs).index(name)
            lines.append(f"req.add_feed({index}, list({var}.shape), {cls}.{dtype}, {values})")
    for item in fetch or []:
        lines.append(f"req.add_fetch({item!r})")
    lines.append("resp = client.predict(req)")
    if fmt == "tf":
        lines += [
            "for name in resp.response.outputs:",
            "    print(name, resp.get_tensor_shape(name), list(resp.get_values(name)))",
        ]
    else:
        lines += [
            "for i in range(len(resp.response.outputs)):",
            "    print(i, resp.get_tensor_shape(i), list(resp.get_values(i)))",
        ]
    return _finish(lines)


def _variables(names: Iterable[str]) -> dict[str, str]:
    """A distinct Python variable for each input name: ``input.1`` → ``input_1``, a
    keyword (``class``) or a name the snippet uses (``client``) gets ``_input``, and
    names that would clean to the same variable (``a-b``, ``a_b``) get ``_2``, ``_3``."""
    out: dict[str, str] = {}
    for name in names:
        # a character that may continue an identifier stays (letters of any script, digits)
        cleaned = "".join(c if f"x{c}".isidentifier() else "_" for c in name)
        if not cleaned.isidentifier():  # empty, or starting with a digit
            cleaned = "x_" + cleaned
        if cleaned in _TAKEN or keyword.iskeyword(cleaned):
            cleaned += "_input"
        var, n = cleaned, 2
        while var in out.values():
            var, n = f"{cleaned}_{n}", n + 1
        out[name] = var
    return out


# names the snippets themselves use: an input called "client" must not shadow them
_TAKEN = {
    "np",
    "client",
    "req",
    "resp",
    "outputs",
    "name",
    "i",
    "PredictClient",
    "StringRequest",
    "TFRequest",
    "TorchRequest",
    "json",
    "base64",
    "ml_dtypes",
}
