"""A webgate request's way through the aiges processor, in a process of its own."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from tests.aiges.conftest import copy_wrapper

ROOT = Path(__file__).resolve().parents[2]

#: runs the aiges processor on the echo wrapper in FOLDER for each body read from stdin,
#: counting the json.loads calls given that body; prints [status, answer, parses] per body
#: (a process of its own: the processor changes the working directory and installs the
#: aiges import shim)
COUNT_PARSES = """
import json, sys
from pathlib import Path
from easlab.kernel.processors.aiges import AigesProcessor
from easlab.kernel.processors.base import ProcessorContext
from easlab.kernel.processors.http import HttpAnswer, HttpRequest

bodies = [b.encode() for b in json.load(sys.stdin)]
ctx = ProcessorContext("echo", {}, processor_path=Path(sys.argv[1]), model_config={"suffix": "?!"})
proc = AigesProcessor(ctx)
proc.initialize()
loads, parses = json.loads, [0]
current = [b""]

def counting(s, *args, **kwargs):
    if isinstance(s, (bytes, bytearray)) and s == current[0]:
        parses[0] += 1
    return loads(s, *args, **kwargs)

json.loads = counting
out = []
for body in bodies:
    current[0], parses[0] = body, 0
    request = HttpRequest("POST", "", "", "application/json", body).encode()
    answer, status = proc.process(request)
    out.append([status, loads(HttpAnswer.decode(status, answer).body), parses[0]])
proc.close()
print(json.dumps(out))
"""


def _request(sid, text: bytes = b"hi", **params) -> dict:
    header = {"appid": "a"} if sid is None else {"appid": "a", "sid": sid}
    return {
        "header": header,
        "parameter": {"echo": params},
        "payload": {"text": {"encoding": "utf8", "status": 3, "text": base64.b64encode(text)}},
    }


def _body(doc: dict) -> str:
    for entry in doc["payload"].values():
        entry["text"] = entry["text"].decode()
    return json.dumps(doc)


def test_a_request_body_is_parsed_once_with_the_same_answers_and_errors(tmp_path):
    """The processor parsed each body three times (the sid, the request, the headers the
    loader passes): a 2 MB payload was decoded from JSON three times. Once now; the
    answers and errors are the ones they were, each with the sid it had."""
    folder = copy_wrapper("echo", tmp_path / "echo")
    big = b"a" * (2 << 20)
    nan = _body(_request("s-nan", repeat=1)).replace('"repeat": 1', '"repeat": NaN')
    bodies = [
        _body(_request("s-ok", big, repeat=1)),
        _body(_request("s-bad", case="title")),
        nan,
        nan.replace('"payload"', '"payload" "oops"'),  # NaN, then a syntax error
        '{"header": ',
        _body(_request({"a": 1})),
        "[1, 2]",
        "  ",
    ]
    proc = subprocess.run(
        [sys.executable, "-c", COUNT_PARSES, str(folder)],
        input=json.dumps(bodies),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    answers = json.loads(proc.stdout.splitlines()[-1])
    assert [parses for _, _, parses in answers] == [1, 1, 1, 1, 1, 1, 1, 0]
    ok_status, ok, _ = answers[0]
    assert ok_status == 200 and ok["header"]["sid"] == "s-ok"
    assert base64.b64decode(ok["payload"]["echo"]["text"]) == big.upper()
    errors = [(status, doc["header"]) for status, doc, _ in answers[1:]]
    assert all(status == 400 and header["code"] == 10163 for status, header in errors)
    messages = [header["message"] for _, header in errors]
    assert messages[0].startswith("parameter.echo.case: 'title' is not allowed"), messages[0]
    for message in messages[1:3]:
        assert message.startswith("body: not JSON (NaN is not a JSON value;"), message
    assert messages[3].startswith("body: not JSON (Expecting value: line 1 column 12"), messages[3]
    assert messages[4].startswith("header.sid: must be a string, got dict"), messages[4]
    assert messages[5].startswith("body: must be a JSON object:"), messages[5]
    assert messages[6].startswith("body: not JSON (the body is empty)"), messages[6]
    # the request's sid when it sent one as a string and it could be read, else a new one
    sids = [header["sid"] for _, header in errors]
    assert sids[:2] == ["s-bad", "s-nan"]
    assert all(len(sid) == 32 and sid not in ("s-bad", "s-nan") for sid in sids[2:]), sids
