"""HTML renderings: masked tokens with a reveal toggle, one-line errors, compact arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd

from easlab.notebook import display

DESC = {
    "name": "echo",
    "status": "Running",
    "endpoint": "http://127.0.0.1:9",
    "token": "abcdefgh12345678",
    "url": "http://127.0.0.1:9/api/predict/echo",
    "running_instance": 1,
    "total_instance": 2,
    "gpu": 0,
    "processor": "python",
    "current_version": 1,
    "latest_version": 1,
    "warnings": ["metadata.foo: unknown key kept"],
}


def test_service_summary_masks_the_token_and_keeps_it_out_of_the_html():
    s = display.ServiceSummary(DESC, show_token=False, title="service echo created")
    html = s._repr_html_()
    assert "••••••••5678" in html and "EasMagic.show_token" in html
    assert "abcdefgh12345678" not in html  # a cell's output is saved with the notebook
    assert "1/2 running" in html and "unknown key kept" in html
    text = repr(s)
    assert "abcdefgh12345678" not in text and "••••••••5678" in text
    assert "service echo created" in text


def test_service_summary_show_token():
    s = display.ServiceSummary(DESC, show_token=True)
    assert "<details" not in s._repr_html_()
    assert "abcdefgh12345678" in repr(s)


def test_error_line_is_one_line():
    e = display.ErrorLine("metadata.instance: required\n  (give a number)")
    assert repr(e) == "easlab error: metadata.instance: required (give a number)"
    assert "\n" not in e._repr_html_() and "color" in e._repr_html_()


def test_value_html_kinds():
    arrays = display.value_html({"scores": np.arange(30, dtype=np.float32).reshape(3, 10)})
    assert "float32[3, 10]" in arrays and "showing 3×8 of 3×10" in arrays
    assert "<td>0.9</td>" in display.value_html(pd.DataFrame({"p_0": [0.9]}))
    assert "&quot;a&quot;: 1" in display.value_html({"a": 1})
    assert "00000000  00 ff" in display.value_html(b"\x00\xff")


def test_hexdump():
    dump = display.hexdump(b"ABC\x00" * 5)
    assert dump.splitlines()[0].startswith("00000000  41 42 43 00")
    assert dump.splitlines()[0].endswith("ABC.ABC.ABC.ABC.")
