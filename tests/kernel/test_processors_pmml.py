"""The pmml processor against a real JPMML evaluator and a small hand-written model."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from easlab.kernel.processors.base import ProcessorContext, ProcessorError
from easlab.kernel.processors.pmml import PmmlProcessor

MODEL = Path(__file__).parent / "data" / "heart_lr.pmml"


def p1(sex: float, cp: float, fbs: bool, thal: str) -> float:
    """The model's p(ifhealth=1), written out from heart_lr.pmml's coefficients."""
    z = -0.5 + 1.2 * sex - 0.8 * cp + (0.6 if fbs else 0.0) + (0.9 if thal == "fixed" else 0.0)
    return 1.0 / (1.0 + math.exp(-z))


@pytest.fixture(scope="module")
def pmml(tmp_path_factory) -> PmmlProcessor:
    # A model directory, as a model_path archive unpacks to.
    model_dir = tmp_path_factory.mktemp("pmml_model")
    shutil.copy(MODEL, model_dir / "lr.pmml")
    proc = PmmlProcessor(
        ProcessorContext(
            "heart", {"processor": "pmml"}, model_path=model_dir, model_entry=model_dir
        )
    )
    proc.initialize()
    yield proc
    proc.close()


def ok(proc: PmmlProcessor, body: object) -> list[dict]:
    out, status = proc.process(json.dumps(body).encode())
    assert status == 200, out
    return json.loads(out)


def error(proc: PmmlProcessor, body: bytes) -> str:
    with pytest.raises(ProcessorError) as info:
        proc.process(body)
    assert info.value.status == 400
    return info.value.message


def test_list_of_objects_gives_probabilities_named_as_the_model_does(pmml):
    rows = [
        {"sex": 0, "cp": 1, "fbs": True, "thal": "fixed"},
        {"sex": 1, "cp": 0, "fbs": False, "thal": "normal"},
    ]
    out = ok(pmml, rows)
    assert [set(r) for r in out] == [{"ifhealth", "p_0", "p_1"}] * 2
    for row, res in zip(rows, out, strict=True):
        expected = p1(row["sex"], row["cp"], row["fbs"], row["thal"])
        assert res["p_1"] == pytest.approx(expected)
        assert res["p_0"] == pytest.approx(1 - expected)
        assert res["ifhealth"] == (1 if expected > 0.5 else 0)


def test_single_object_and_positional_rows(pmml):
    single = ok(pmml, {"sex": 1, "cp": 2, "fbs": True, "thal": "fixed"})
    positional = ok(pmml, [[1, 2, True, "fixed"]])
    assert single == positional
    assert single[0]["p_1"] == pytest.approx(p1(1, 2, True, "fixed"))


def test_missing_values_take_eas_defaults_unless_the_model_declares_one(pmml):
    # cp (integer) → 0, fbs (boolean) → false, thal (string) → "", all without a
    # declared replacement; sex declares missingValueReplacement="1".
    out = ok(pmml, [{}, {"sex": None, "cp": None, "fbs": None, "thal": None}])
    assert out[0] == out[1]
    assert out[0]["p_1"] == pytest.approx(p1(1, 0, False, ""))


def test_json_scalars_are_coerced_to_the_field_types(pmml):
    # booleans as 0/1 or "true", a string category sent as a number
    out = ok(pmml, [{"sex": 0.5, "cp": 1, "fbs": 1, "thal": 7}, {"fbs": "true"}])
    assert out[0]["p_1"] == pytest.approx(p1(0.5, 1, True, "7"))
    assert out[1]["p_1"] == pytest.approx(p1(1, 0, True, ""))


def test_target_column_is_accepted_and_ignored(pmml):
    with_label = ok(pmml, [{"sex": 0, "cp": 1, "ifhealth": 1}])
    assert with_label == ok(pmml, [{"sex": 0, "cp": 1}])


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'"text"', "JSON list of feature objects"),
        (b'[{"sx": 1}]', "unknown field 'sx'"),
        (b"[[1, 2]]", "needs 4 values (sex, cp, fbs, thal), got 2"),
        (b'[{"sex": 1}, 5]', "rows[1]: expected a JSON object"),
        (b'[{"fbs": "maybe"}]', "field 'fbs' expects a boolean"),
        (b'[{"sex": true}]', "field 'sex' expects a double number"),
        (b'[{"sex": [1]}]', "field 'sex' expects a double value"),
        (b'[{"sex": 1}, {"sex": "abc"}]', 'rows[1]: Field "sex" cannot accept invalid value "abc"'),
    ],
)
def test_bad_requests_answer_400_saying_what_is_wrong(pmml, body, needle):
    assert needle in error(pmml, body)


def test_signature_lists_fields_in_positional_order(pmml):
    sig = pmml.signature()
    assert sig["format"] == "json"
    assert [(f["name"], f["type"]) for f in sig["inputs"]] == [
        ("sex", "double"),
        ("cp", "integer"),
        ("fbs", "boolean"),
        ("thal", "string"),
    ]
    assert [f["name"] for f in sig["outputs"]] == ["ifhealth", "p_0", "p_1"]


def test_batch_evaluates_together_and_answers_each_request(pmml):
    reqs = [
        json.dumps([{"sex": 1, "cp": 0}, {"sex": 0, "cp": 3}]).encode(),
        b"garbage",
        json.dumps([{"sex": "abc"}]).encode(),
        json.dumps({"sex": 0, "cp": 0, "thal": "fixed"}).encode(),
        b"[]",
    ]
    answers = pmml.process_batch(reqs)
    assert [status for _, status in answers] == [200, 400, 400, 200, 200]
    first = json.loads(answers[0][0])
    assert [r["p_1"] for r in first] == pytest.approx([p1(1, 0, False, ""), p1(0, 3, False, "")])
    assert b"not valid JSON" in answers[1][0]
    assert b'rows[0]: Field "sex"' in answers[2][0]
    assert json.loads(answers[3][0])[0]["p_1"] == pytest.approx(p1(0, 0, False, "fixed"))
    assert json.loads(answers[4][0]) == []


def test_a_directory_without_a_pmml_file_fails_to_load(tmp_path):
    proc = PmmlProcessor(ProcessorContext("x", {}, model_path=tmp_path, model_entry=tmp_path))
    with pytest.raises(Exception, match="PMML file"):
        proc.initialize()


NOT_XML = "sex,cp,fbs,thal\n1,2,true,fixed\n"  # a CSV saved as .pmml


def test_a_file_that_is_not_xml_fails_to_load_saying_what_and_where(tmp_path):
    (tmp_path / "model.pmml").write_text(NOT_XML)
    proc = PmmlProcessor(ProcessorContext("x", {}, model_path=tmp_path, model_entry=tmp_path))
    with pytest.raises(RuntimeError) as info:
        proc.initialize()
    message = str(info.value)
    # JPype's .message is a method: its repr ("<bound method ...>") is no message
    assert "bound method" not in message and "JException" not in message
    assert "line 1, column 1: Content is not allowed in prolog." in message
    assert "not well-formed XML" in message and "<PMML>" in message


def test_a_service_from_a_file_that_is_not_xml_fails_with_the_java_message(kernel, tmp_path):
    (tmp_path / "model.pmml").write_text(NOT_XML)
    svc = kernel.create(
        {
            "name": "pmml_not_xml",
            "processor": "pmml",
            "model_path": str(tmp_path / "model.pmml"),
            "metadata": {"instance": 1},
        }
    )
    try:
        assert svc.status == "Failed", svc.desc
        message = str(svc.desc.get("message"))
        assert "cannot load PMML model" in message and "bound method" not in message
        assert "Content is not allowed in prolog." in message
    finally:
        kernel.delete("pmml_not_xml")
