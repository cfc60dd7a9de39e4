"""An inference graph in one service: router + combiner + transformer chain."""

from __future__ import annotations

import json
from pathlib import Path

from easlab.seldon.graph import GraphApp

COMPONENTS = Path(__file__).resolve().parent / "components"

GRAPH = {
    "name": "input",
    "type": "TRANSFORMER",
    "class": "Transformer",
    "children": [
        {
            "name": "router",
            "type": "ROUTER",
            "class": "Router",
            "children": [
                {"name": "identity", "type": "MODEL", "class": "MyModel"},
                {
                    "name": "combine",
                    "type": "COMBINER",
                    "class": "Combiner",
                    "children": [
                        {"name": "m1", "type": "MODEL", "class": "MyModel"},
                        {"name": "m2", "type": "MODEL", "class": "ClassNames"},
                    ],
                },
            ],
        }
    ],
}


def predict(app: GraphApp, payload) -> tuple[int, dict]:
    answer = app.handle(
        "POST", "/api/v1.0/predictions", "", "application/json", json.dumps(payload).encode()
    )
    return answer.status, json.loads(answer.body)


def test_router_picks_identity_branch():
    app = GraphApp.from_spec(GRAPH, COMPONENTS)
    status, body = predict(app, {"data": {"ndarray": [[1, 2]]}})
    assert status == 200
    assert body["data"]["ndarray"] == [[2, 3]]  # transformer +1, identity
    assert set(body["meta"]["requestPath"]) == {"input", "router", "identity"}
    assert body["meta"]["routing"] == {"router": 0}


def test_router_picks_combiner_branch():
    app = GraphApp.from_spec(GRAPH, COMPONENTS)
    status, body = predict(app, {"data": {"ndarray": [[9, 1]]}})
    assert status == 200
    # transformer: [[10, 2]]; m1 identity, m2 doubles; combiner averages
    assert body["data"]["ndarray"] == [[15.0, 3.0]]
    assert set(body["meta"]["requestPath"]) == {"input", "router", "combine", "m1", "m2"}
    assert body["meta"]["requestPath"]["m2"] == "ClassNames"


def test_graph_errors_are_seldon_errors():
    app = GraphApp.from_spec(GRAPH, COMPONENTS)
    status, body = predict(app, {"data": {"ndarray": [[-5, 1]]}})  # router returns a str
    assert status == 400 and body["status"]["reason"] == "MICROSERVICE_BAD_DATA"
    assert app.handle("GET", "/health/ping").body == b"pong"
