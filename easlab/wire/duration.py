"""The queue protocol's durations (``_timeout_``, SPEC §4) as seconds.

EAS's queue server is written in Go and reads ``_timeout_`` as a Go duration: one
or more number+unit parts (``5s``, ``500ms``, ``1m30s``, ``100us``). easlab also
takes a bare number as seconds, as it always has.
"""

from __future__ import annotations

import math
import re

__all__ = ["duration_s"]

_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_PART = re.compile(rf"({_NUMBER})\s*(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_DURATION = re.compile(rf"(?:{_PART.pattern})+")
_PLAIN = re.compile(_NUMBER)
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0}
_UNIT_S.update({"m": 60.0, "h": 3600.0})


def duration_s(text: str) -> float:
    """``text`` in seconds; ValueError if it is no duration (or not a finite one).

    >>> duration_s("1m30s"), duration_s("500ms"), duration_s("2")
    (90.0, 0.5, 2.0)
    """
    text = text.strip()
    if _PLAIN.fullmatch(text):
        value = float(text)
    elif _DURATION.fullmatch(text):
        value = sum(float(n) * _UNIT_S[unit] for n, unit in _PART.findall(text))
    else:
        value = math.nan
    if not math.isfinite(value):  # "1..s", ".", 400 nines
        raise ValueError(f"{text[:40]!r} is not a duration such as 5s, 500ms or 1m30s")
    return value
