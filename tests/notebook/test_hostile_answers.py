"""Answers a notebook cannot decode as the request implies: the debug widget and
``%%eas predict`` show what came and say why it cannot be read, with no traceback."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from easlab.notebook.widget import DebugWidget
from easlab.notebook.widget_session import DebugSession

from .conftest import failing
from .echo_server import EchoServer

SIGNATURE = {
    "signature_name": "serving_default",
    "inputs": [{"name": "x", "shape": [-1, 4], "type": "DT_FLOAT"}],
    "outputs": [{"name": "y", "shape": [-1, 2], "type": "DT_FLOAT"}],
}
NOT_A_TF_ANSWER = b"\xff\xfe<script>alert(1)</script>\x00"


def test_a_200_answer_that_is_not_a_tensor_answer_is_shown_with_why():
    with EchoServer(signature=SIGNATURE, reply=b"") as server:  # b"": an empty TF answer
        widget = DebugWidget(DebugSession(server.url, token=server.token))
        widget._on_send()
        assert widget.session.last is not None and widget.session.last.value == {}
        server.reply = NOT_A_TF_ANSWER
        widget._on_send()

    record = widget.session.last
    assert len(widget.session.history) == 2, "the failed read is an exchange of the history"
    assert record is not None and record.status == 200 and record.value is None
    assert "'echo' answered HTTP 200" in (record.decode_error or "")
    assert "not a TensorFlow PredictResponse" in record.decode_error
    # the status line says why; the response pane has this answer's bytes, not the last one's
    assert "not a TensorFlow PredictResponse" in widget.status
    assert "ff fe 3c 73 63 72 69 70 74 3e" in widget.response_pane.value
    assert "<script>" not in widget.response_pane.value + widget.status
    assert widget.decoded_pane.value == ""
    assert "not a TensorFlow PredictResponse" in record._repr_html_()


def test_a_tensor_answer_whose_shape_its_values_do_not_fill_is_refused_with_the_shape():
    from easlab.wire.proto import tf_predict_pb2

    answer = tf_predict_pb2.PredictResponse()
    y = answer.outputs["y"]
    y.dtype = tf_predict_pb2.DT_FLOAT
    y.array_shape.dim.extend([2**40, 2**30])  # no machine holds it, and no value came
    with EchoServer(signature=SIGNATURE, reply=answer.SerializeToString()) as server:
        session = DebugSession(server.url, token=server.token)
        session.set_value("x", np.zeros((1, 4), np.float32))
        record = session.send()
    assert record.value is None
    assert "shape [1099511627776, 1073741824]" in (record.decode_error or "")


def test_the_magic_says_which_service_gave_an_answer_it_cannot_read(shell, capsys):
    with EchoServer(signature=SIGNATURE, reply=NOT_A_TF_ANSWER) as server:
        shell.user_ns["svc"] = SimpleNamespace(url=server.url, name="echo", token=server.token)
        shell.user_ns.pop("out", None)
        line = failing(shell, capsys, '%%eas predict svc out\n{"x": [[1, 2, 3, 4]]}')
    assert "service 'echo' answered HTTP 200" in line
    assert "not a TensorFlow PredictResponse" in line
    assert "out" not in shell.user_ns


# the least webgate schema an aiges service answers on GET: one text input, no parameters
AIGES_SCHEMA = {
    "meta": {"serviceId": "s1", "s1": {"input": {"text": {"dataType": "text"}}}},
    "schemainput": {"properties": {"parameter": {"properties": {"s1": {"properties": {}}}}}},
}


def _aiges_send(reply: bytes) -> Any:
    import easlab

    with EchoServer(signature=AIGES_SCHEMA, reply=reply) as server:
        box = easlab.debug(server.url, token=server.token, namespace={})
        assert type(box).__name__ == "AigesDebugWidget"
        box.controls["text"][1].value = "hi"
        box.send()
    return box


@pytest.mark.parametrize(
    "reply",
    [
        b'["not", "a", "webgate", "answer"]',
        b'{"header": "<b>a header that is no object</b>"}',
        b'{"header": {"code": 0}, "payload": ["no", "outputs"]}',
        b'{"header": {"code": 0}, "payload": {"result": "a text, no object"}}',
    ],
)
def test_an_aiges_answer_that_is_no_webgate_document_is_shown_as_its_text(reply):
    box = _aiges_send(reply)
    assert "HTTP 200" in box.status_line.value
    assert "<b>a header" not in box.status_line.value  # escaped, if shown
    assert box.answer_box.children == ()


def test_an_aiges_answers_code_and_outputs_are_escaped_and_bad_base64_said():
    reply = json.dumps(
        {
            "header": {"code": "<img src=x onerror=alert(1)>", "message": "</pre><script>"},
            "payload": {"result": {"text": "not base64 !"}},
        }
    ).encode()
    box = _aiges_send(reply)
    assert "<img" not in box.status_line.value and "<script>" not in box.status_line.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in box.status_line.value
    [shown] = box.answer_box.children
    assert "its text is not base64" in shown.value


def _signature(wire_type: str) -> dict[str, Any]:
    return {
        "inputs": [{"name": "x", "shape": [-1, 4], "type": wire_type}],
        "outputs": [{"name": "y", "shape": [-1, 2], "type": "DT_FLOAT"}],
    }


def test_a_bfloat16_input_is_filled_with_random_data_and_sent():
    import easlab

    with EchoServer(signature=_signature("DT_BFLOAT16"), reply=b"") as server:
        box = easlab.debug(server.url, token=server.token, namespace={})
        box.editor.rows[0].fill_button.click()
        assert "bfloat16[1, 4] from random" in box.editor.rows[0].preview.value
        box._on_send()
    record = box.session.last
    assert record is not None and record.status == 200, box.status
    assert record.inputs is not None and record.inputs["x"].shape == (1, 4)


def test_an_input_of_a_type_the_form_cannot_fill_says_so_next_to_its_fill_button():
    import easlab

    with EchoServer(signature=_signature("FLOAT32"), reply=b"") as server:
        box = easlab.debug(server.url, token=server.token, namespace={})
        box.editor.rows[0].fill_button.click()
    assert (
        "signature type &#x27;FLOAT32&#x27; is not a TF dtype" in box.editor.rows[0].preview.value
    )


@pytest.mark.parametrize(
    ("inputs", "said"),
    [
        (
            [{"name": "x", "shape": ["batch", 4], "type": "DT_FLOAT"}],
            "input &#x27;x&#x27; has shape",
        ),
        ([{"name": "x", "shape": [None, 4], "type": "DT_FLOAT"}], "input &#x27;x&#x27; has shape"),
        ([{"shape": [-1, 4], "type": "DT_FLOAT"}], "input #1 has no name"),
    ],
)
def test_a_signature_the_form_cannot_follow_opens_a_text_body_and_says_why(inputs, said):
    import easlab

    signature = {"inputs": inputs, "outputs": []}
    with EchoServer(signature=signature) as server:
        box = easlab.debug(server.url, token=server.token, namespace={})
        assert said in box.status and "the body is sent as written" in box.status
        box.editor.raw.value = "as written"
        box._on_send()
    assert box.session.last is not None and box.session.last.status == 200, box.status
    assert box.session.last.value == "as written"


@pytest.mark.parametrize(
    ("schema", "lacks"),
    [
        ({"meta": {}, "schemainput": {}}, "meta.serviceId"),
        (
            {"meta": {"serviceId": "s"}, "schemainput": {"properties": {}}},
            "schemainput.properties.parameter",
        ),
        ({**AIGES_SCHEMA, "meta": {"serviceId": "s1", "s1": {}}}, "meta.s1.input"),
    ],
)
def test_an_aiges_schema_the_form_cannot_read_is_one_line_naming_what_it_lacks(
    schema, lacks, shell, capsys
):
    with EchoServer(signature=schema) as server:
        shell.user_ns["u"] = f"{server.url}?token={server.token}"
        line = failing(shell, capsys, "%eas debug {u}")
    assert f"service 'echo' answers an aiges schema without {lacks}," in line


@pytest.mark.parametrize(
    "inputs",
    [
        [{"name": "x", "datatype": "FP32", "shape": ["batch", 2]}],
        [{"messagetype": "ndarray", "schema": {"names": ["a", "b"], "shape": [None, 2]}}],
    ],
)
def test_seldon_metadata_the_form_cannot_follow_opens_the_json_box_and_says_why(inputs):
    import easlab

    # the echo server answers every GET, /metadata too, with this document
    metadata = {"format": "seldon", "inputs": inputs}
    with EchoServer(signature=metadata) as server:
        box = easlab.debug(server.url, token=server.token, namespace={})
        assert type(box).__name__ == "SeldonDebugWidget"
        assert "/metadata declares inputs the form cannot follow" in box.editor.children[0].value
        assert "a shape is a list of integers" in box.editor.children[0].value
        box.editor.raw.value = '{"data": {"ndarray": [[1, 2]]}}'
        box._on_send()
    assert box.session.last is not None and box.session.last.status == 200, box.status


def test_a_long_aiges_text_output_is_cut_in_the_page():
    import base64

    from easlab.notebook.display import TEXT_CHARS

    text = "y" * (TEXT_CHARS * 3)
    answer = {
        "header": {"code": 0},
        "payload": {"result": {"text": base64.b64encode(text.encode()).decode()}},
    }
    box = _aiges_send(json.dumps(answer).encode())
    [shown] = box.answer_box.children
    assert "more characters" in shown.value and len(shown.value) < TEXT_CHARS * 2
    assert box.session.decoded(box.session.history[-1][1]) == {"result": text}


def test_seldon_rows_typed_that_cannot_be_sent_are_said_and_not_sent():
    """A typo in a row box raised inside the observer (the browser's log only), and Send
    then sent the rows from before."""
    import easlab

    metadata = {
        "format": "seldon",
        "inputs": [{"messagetype": "ndarray", "schema": {"names": ["a", "b"], "shape": [-1, 2]}}],
    }
    with EchoServer(signature=metadata) as server:
        box = easlab.debug(server.url, token=server.token, namespace={})
        (row,) = box.editor.rows
        row.text.value = "[[5, 6]]"
        box._on_send()
        assert json.loads(box.session.last.sent.body)["data"]["ndarray"] == [[5, 6]]
        for typed, said in [("[[7, 8]", "Expecting"), ("[[7, 8, 9]]", "takes 2 value(s) per row")]:
            row.text.value = typed
            assert "the rows typed cannot be sent" in row.note.value and said in row.note.value
            box._on_send()
            assert "input &#x27;input 0&#x27;: the rows typed cannot be sent" in box.status
            assert len(box.session.history) == 1  # nothing sent
        row.text.value = "[[7, 8]]"
        assert row.note.value == ""
        box._on_send()
    assert json.loads(box.session.last.sent.body)["data"]["ndarray"] == [[7, 8]]


def test_the_easlab_snippet_of_a_bfloat16_input_sends_the_same_bytes():
    """It wrote ``.astype(np.bfloat16)``: numpy has no such name (AttributeError)."""
    import easlab

    with EchoServer(signature=_signature("DT_BFLOAT16"), reply=b"") as server:
        box = easlab.debug(server.url, token=server.token, namespace={})
        box.session.fill_random(batch=3, seed=7)
        box._on_send()
        exec(compile(box.session.python_easlab(), "<snippet>", "exec"), {})
    sent = [body for method, body in server.received if method == "POST"]
    assert len(sent) == 2 and sent[1] == sent[0] == box.session.last.sent.body


def test_aiges_params_whose_defaults_their_fields_cannot_hold_start_empty():
    # "type": "number", "default": "x" stopped the form's build with a traitlets TraitError
    import easlab

    params = {
        "n": {"type": "number", "default": "x"},
        "k": {"type": "integer", "default": 2.5},
        "on": {"type": "boolean", "default": "yes"},
        "name": {"type": "string", "default": 7},
        "ok": {"type": "integer", "default": 3},
    }
    schema = {
        **AIGES_SCHEMA,
        "schemainput": {
            "properties": {"parameter": {"properties": {"s1": {"properties": params}}}}
        },
    }
    with EchoServer(signature=schema) as server:
        box = easlab.debug(server.url, token=server.token, namespace={})
    shown = {key: widget.value for key, (_, widget) in box.controls.items() if key in params}
    assert shown == {"n": 0.0, "k": 0, "on": False, "name": "7", "ok": 3}
