"""easlab/aiges/params.py without a server: JSON values spelled as the webgate hands them
to the loader (Go's ConvertToString, iflytek/aiges AtheGateway/common/data_util.go)."""

from __future__ import annotations

import pytest

from easlab.aiges.params import loader_params, loader_value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("upper", "upper"),
        ("", ""),
        (True, "true"),
        (False, "false"),
        (2, "2"),
        (-7, "-7"),
        (0.25, "0.25"),
        (3.0, "3"),  # float64 in Go: FormatFloat(v, 'f', -1, 64) has no ".0"
        (0.0, "0"),
        (1e-07, "0.0000001"),  # and no exponent
        (1e21, "1000000000000000000000"),
        (0.1 + 0.2, "0.30000000000000004"),  # the shortest digits that read back
        (2**63, "9223372036854776000"),  # every JSON number is a float64 there
    ],
)
def test_values_are_spelled_as_the_webgate_spells_them(value, text):
    assert loader_value(value) == text


def test_params_are_all_strings_and_a_missing_value_is_absent():
    got = loader_params({"times": 2, "loud": False, "name": "x", "unset": None})
    assert got == {"times": "2", "loud": "false", "name": "x"}
    assert all(type(v) is str for v in got.values())
