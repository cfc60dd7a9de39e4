"""The CORS part of an answer, compared side by side with seldon-core's (its CORS(app))."""

from __future__ import annotations

import requests

CORS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Headers",
        "Access-Control-Allow-Methods", "Access-Control-Allow-Credentials", "Vary")  # fmt: skip


def cors(response: requests.Response) -> dict[str, object]:
    """The CORS part of an answer; Allow as a set (flask lists a route's methods in
    set order)."""
    seen: dict[str, object] = {name: response.headers.get(name) for name in CORS}
    seen["Allow"] = set((response.headers.get("Allow") or "").replace(" ", "").split(","))
    return seen
