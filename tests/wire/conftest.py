"""Fixtures for the wire tests: one batched call into the official client's venv.

Each subprocess call costs ~0.3 s, so tests collect their cases in a list and
``official_batch(cases)`` runs them all in one snippet (``wire_helpers.OFFICIAL_SNIPPET``)
that reads JSON on stdin and answers one JSON object per case.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from wire_helpers import OFFICIAL_SNIPPET


@pytest.fixture(scope="session")
def official_batch(run_official):
    """Run a list of cases through the official client; one result dict per case."""

    def run(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = run_official(OFFICIAL_SNIPPET, stdin=json.dumps(cases).encode())
        results = json.loads(out)
        assert len(results) == len(cases)
        return results

    return run
