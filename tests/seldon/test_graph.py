"""An inference graph in one service: router + combiner + transformer chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def test_graph_through_the_kernel(kernel):
    """A service with ``seldon.graph``: the same graph at /api/predict/{name}, with its token."""
    import requests

    service = kernel.create(
        {
            "name": "sg_graph",
            "processor": "seldon",
            "processor_path": str(COMPONENTS),
            "processor_mainclass": "Transformer",
            "token": "tok-graph-1234",
            "metadata": {"instance": 1},
            "seldon": {"graph": GRAPH},
        }
    )
    assert service.status == "Running", service.message
    token = {"Authorization": "tok-graph-1234"}
    url = service.url + "/api/v1.0/predictions"
    one = requests.post(url, json={"data": {"ndarray": [[1, 2]]}}, headers=token, timeout=30)
    assert one.status_code == 200
    assert one.json()["data"]["ndarray"] == [[2, 3]]
    assert one.json()["meta"]["requestPath"] == {
        "input": "Transformer",
        "router": "Router",
        "identity": "MyModel",
    }
    two = requests.post(
        service.url, json={"data": {"ndarray": [[9, 1]]}}, headers=token, timeout=30
    )
    assert two.status_code == 200 and two.json()["data"]["ndarray"] == [[15.0, 3.0]]
    assert two.json()["meta"]["requestPath"] == {
        "input": "Transformer",
        "router": "Router",
        "combine": "Combiner",
        "m1": "MyModel",
        "m2": "ClassNames",
    }
    assert requests.post(url, json={"data": {"ndarray": [[1]]}}, timeout=30).status_code == 401
    meta = requests.get(service.url + "/api/v1.0/metadata", headers=token, timeout=30)
    assert meta.status_code == 200 and meta.json()["name"] == "sg_graph"  # the service's name
    assert set(meta.json()["models"]) == {"input", "router", "identity", "combine", "m1", "m2"}
    # a node's own metadata and status by its name, behind the token as every other path
    for path in ("/api/v1.0/metadata/m2", "/api/v0.1/status/m2", "/api/v1.0/status", "/ready",
                 "/live", "/prometheus"):  # fmt: skip
        assert requests.get(service.url + path, timeout=30).status_code == 401, path
        own = requests.get(service.url + path, headers=token, timeout=30)
        assert own.status_code == 200, (path, own.text)
    scrape = requests.get(service.url + "/prometheus", headers=token, timeout=30)
    served = {labels: count for (name, labels), count in _counts(scrape.text).items()
              if name == "seldon_api_executor_server_requests_seconds"}  # fmt: skip
    assert served[tuple(sorted({"deployment_name": "sg_graph", "predictor_name": "sg_graph",
                                "predictor_version": "", "service": "predictions",
                                "method": "post", "code": "200"}.items()))] == 2  # fmt: skip
    node = requests.get(service.url + "/api/v1.0/metadata/m2", headers=token, timeout=30)
    # the node's own /metadata body, passed on as it is (the graph's leaves empty fields out)
    assert node.json() == {**meta.json()["models"]["m2"], "name": "", "platform": "", "custom": {}}


def _counted(name: str, path: Path) -> dict:
    parameters = [{"name": "path", "value": str(path), "type": "STRING"}]
    return {"name": name, "type": "MODEL", "class": "Counter", "parameters": parameters}


def test_router_answering_minus_one_sends_to_every_child(tmp_path):
    """A route() of -1 is the executor's "every child": each runs, the first child's answer
    is the answer. easlab answered 400 "router r picked child -1 of 2"."""
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    graph = {
        "name": "r",
        "type": "ROUTER",
        "class": "RouteAll",
        "children": [
            {"name": "double", "type": "MODEL", "class": "ClassNames"},
            _counted("counted", second),
        ],
    }
    app = GraphApp.from_spec(graph, COMPONENTS)
    status, body = predict(app, {"data": {"ndarray": [[1, 2]]}})
    assert status == 200, body
    assert body["data"]["ndarray"] == [[2.0, 4.0]]  # the first child's answer
    assert body["meta"]["routing"] == {"r": -1}
    assert second.read_text() == "call\n"  # the other child ran too
    # a node that routes nothing (a MODEL with children) sends to each child as well
    chain = {"name": "m", "type": "MODEL", "class": "MyModel",
             "children": [_counted("c1", first), _counted("c2", second)]}  # fmt: skip
    status, body = predict(GraphApp.from_spec(chain, COMPONENTS), {"data": {"ndarray": [[5]]}})
    assert status == 200 and body["data"]["ndarray"] == [[5]]
    assert (first.read_text(), second.read_text()) == ("call\n", "call\ncall\n")


def test_graph_prediction_paths_take_the_methods_seldon_core_routes():
    """The executor's paths take the methods its gorilla/mux routes take (POST on
    /api/v*/predictions and /feedback, GET on the metadata and status paths; OPTIONS is
    the CORS middleware's): any other is mux's 405 with no body, for a graph and for one
    class of any type alike (the executor fronts every SeldonDeployment; executor/api/rest/
    server.go in seldon-core 1.18.2). easlab answered the microservice's 500 JSON body
    ("405 Method Not Allowed: ...") there. The microservice's own paths (/predict, the
    service root) keep its refusal."""
    from easlab.seldon.app import SeldonApp
    from easlab.seldon.component import build_component, load_component_class

    def app(cls: str) -> SeldonApp:
        return SeldonApp(build_component(load_component_class(COMPONENTS, cls)))

    body = json.dumps({"data": {"ndarray": [[1, 2]]}}).encode()
    services = [GraphApp.one_node("t", "TRANSFORMER", "Transformer", app("Transformer")),
                GraphApp.one_node("m", "MODEL", "MyModel", app("MyModel")),
                GraphApp.from_spec(GRAPH, COMPONENTS)]  # fmt: skip
    for graph in services:
        for method, path in [("DELETE", "/api/v1.0/predictions"), ("GET", "/api/v1.0/predictions"),
                             ("PUT", "/api/v0.1/predictions"), ("GET", "/api/v1.0/feedback"),
                             ("HEAD", "/api/v1.0/metadata"), ("POST", "/api/v1.0/metadata"),
                             ("PATCH", "/api/v1.0/status/t"), ("DELETE", "/api/v1.0/health/status")]:  # fmt: skip
            refused = graph.handle(method, path, "", "application/json", body)
            assert (refused.status, refused.body) == (405, b""), (graph.name, method, path)
        for method, path in [("PUT", "/predict"), ("PATCH", "")]:
            ours = graph.handle(method, path, "", "application/json", body)
            theirs = app("Transformer").handle(method, path, "", "application/json", body)
            assert (ours.status, ours.body) == (theirs.status, theirs.body), (method, path)
            assert ours.status == 500 and b"Not" in ours.body
        assert graph.handle("POST", "/predict", "", "application/json", body).status == 200
        assert (
            graph.handle("POST", "/api/v0.1/predictions", "", "application/json", body).status
            == 200
        )
        assert graph.handle("GET", "/predict", 'json={"data":{"ndarray":[[1,2]]}}').status == 200
    # none of the refusals reached the handler the executor's metrics wrap
    exposition = services[0].handle("GET", "/prometheus").body.decode()
    assert 'code="405"' not in exposition


FEEDBACK_GRAPH = {
    "name": "input",
    "type": "TRANSFORMER",
    "class": "Transformer",
    "children": [
        {
            "name": "router",
            "type": "ROUTER",
            "class": "FeedbackRouter",
            "children": [
                {"name": "a", "type": "MODEL", "class": "FeedbackSeen"},
                {
                    "name": "combine",
                    "type": "COMBINER",
                    "class": "Combiner",
                    "children": [
                        {"name": "b", "type": "MODEL", "class": "FeedbackSeen"},
                        {"name": "c", "type": "MODEL", "class": "FeedbackSeen"},
                    ],
                },
            ],
        }
    ],
}


def _feedback(app: GraphApp, payload, path="/api/v1.0/feedback") -> tuple[int, dict]:
    answer = app.handle("POST", path, "", "application/json", json.dumps(payload).encode())
    return answer.status, json.loads(answer.body)


def test_feedback_goes_down_the_routing_of_the_response():
    """Feedback to a graph reaches each MODEL and ROUTER along the routing recorded in the
    response's meta (every child of a node the routing does not name), as seldon-core's
    executor sends it; a router's send_feedback gets its own routing. easlab handed it to
    the root component only (here a transformer), so no model or router ever learned."""
    app = GraphApp.from_spec(FEEDBACK_GRAPH, COMPONENTS)
    nodes = {node.name: node.app.user_model for node in app.nodes()}
    status, response = predict(app, {"data": {"ndarray": [[1, 2]]}})
    assert status == 200 and response["meta"]["routing"] == {"router": 0}
    feedback = {"request": {"data": {"ndarray": [[1, 2]]}}, "response": response, "reward": 1}
    status, body = _feedback(app, feedback)
    assert status == 200, body
    assert nodes["router"].seen == [[0, 1.0]]
    assert nodes["a"].last["reward"] == ["float", 1.0]
    assert nodes["b"].last == nodes["c"].last == {}  # not on the routed branch
    # routed to the combiner: both of its models (the combiner itself gets none)
    feedback["response"] = {"meta": {"routing": {"router": 1}}}
    feedback["reward"] = 0.5
    for path in ("/send-feedback", "/api/v0.1/feedback"):
        assert _feedback(app, feedback, path)[0] == 200
    assert nodes["router"].seen[1:] == [[1, 0.5], [1, 0.5]]
    assert nodes["b"].last["reward"] == nodes["c"].last["reward"] == ["float", 0.5]
    assert nodes["a"].last["reward"] == ["float", 1.0]
    # no routing in the response: every branch
    nodes["a"].last = {}
    assert _feedback(app, {"reward": 2})[0] == 200
    assert [nodes[n].last["reward"] for n in "abc"] == [["float", 2.0]] * 3
    assert nodes["router"].seen[-1] == [None, 2.0]


def test_feedback_routed_to_a_child_the_router_lacks_is_a_clear_error():
    app = GraphApp.from_spec(FEEDBACK_GRAPH, COMPONENTS)
    status, body = _feedback(app, {"reward": 1, "response": {"meta": {"routing": {"router": 5}}}})
    assert status == 400 and body["status"]["reason"] == "MICROSERVICE_BAD_DATA"
    assert "router" in body["status"]["info"] and "5" in body["status"]["info"]


def test_router_answering_minus_two_routes_to_no_child(tmp_path):
    """A route() of -2 is the executor's "no child": the graph answers the router's input
    as it came (after the transformer above it), meta.routing records -2, no child runs;
    feedback then reaches the router alone. easlab answered 400 "router r picked child -2
    of 2"."""
    first = tmp_path / "first.txt"
    graph = {
        "name": "input",
        "type": "TRANSFORMER",
        "class": "Transformer",
        "children": [
            {
                "name": "r",
                "type": "ROUTER",
                "class": "RouteNone",
                "children": [
                    _counted("c1", first),
                    {"name": "c2", "type": "MODEL", "class": "FeedbackSeen"},
                ],
            }
        ],
    }
    app = GraphApp.from_spec(graph, COMPONENTS)
    nodes = {node.name: node.app.user_model for node in app.nodes()}
    status, body = predict(app, {"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}})
    assert status == 200, body
    assert body["data"]["ndarray"] == [[2, 3]]  # the transformer's answer, unchanged
    assert body["meta"]["routing"] == {"r": -2}
    assert body["meta"]["requestPath"] == {"input": "Transformer", "r": "RouteNone"}
    assert not first.exists()  # c1 never predicted
    feedback = {"request": {"data": {"ndarray": [[1, 2]]}}, "response": body, "reward": 1}
    status, answer = _feedback(app, feedback)
    assert status == 200, answer
    assert nodes["r"].seen == [[-2, 1.0]]
    assert nodes["c2"].last == {}  # no child ran, so none learns from it


def test_graph_feedback_through_the_kernel(kernel, tmp_path):
    """Predictions then feedback over HTTP to a graph service (router + two models) on a
    real kernel, with its token: each feedback reaches the model its prediction was
    routed to and the router, with the reward and the router's own routing; without the
    token no component hears of it."""
    import requests

    log = tmp_path / "feedback.jsonl"

    def node(name: str, kind: str) -> dict:
        parameters = [{"name": "path", "value": str(log), "type": "STRING"},
                      {"name": "label", "value": name, "type": "STRING"}]  # fmt: skip
        return {"name": name, "type": kind, "class": "FeedbackLog", "parameters": parameters}

    graph = {**node("router", "ROUTER"), "children": [node("a", "MODEL"), node("b", "MODEL")]}
    service = kernel.create(
        {
            "name": "sg_feedback",
            "processor": "seldon",
            "processor_path": str(COMPONENTS),
            "processor_mainclass": "FeedbackLog",
            "token": "tok-feedback-1234",
            "metadata": {"instance": 1},
            "seldon": {"graph": graph},
        }
    )
    assert service.status == "Running", service.message
    token = {"Authorization": "tok-feedback-1234"}
    sent = []
    for first, reward in [(1, 0.5), (9, 1), (2, 0)]:
        request = {"data": {"ndarray": [[first, 7]]}}
        answer = requests.post(
            service.url + "/api/v1.0/predictions", json=request, headers=token, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["meta"]["routing"] == {"router": int(first > 5)}
        feedback = {"request": request, "response": answer.json(), "reward": reward,
                    "truth": {"data": {"ndarray": [[reward]]}}}  # fmt: skip
        sent.append(feedback)
        done = requests.post(
            service.url + "/api/v1.0/feedback", json=feedback, headers=token, timeout=30
        )
        assert done.status_code == 200, done.text
    refused = requests.post(service.url + "/api/v1.0/feedback", json=sent[0], timeout=30)
    assert refused.status_code == 401
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    expected = []
    for feedback, child in zip(sent, ["a", "b", "a"], strict=True):
        reward = float(feedback["reward"])
        first = float(feedback["request"]["data"]["ndarray"][0][0])
        seen = {"reward": reward, "features": [[first, 7.0]], "truth": [[reward]]}
        expected += [{"node": child, "routing": None, **seen},
                     {"node": "router", "routing": int(child == "b"), **seen}]  # fmt: skip
    assert lines == expected


BAD_GRAPHS = [
    # a type seldon-core does not have: the node ran nothing and passed the request on
    ({"name": "m", "type": "MODLE", "class": "MyModel"}, "seldon.graph.type", "MODLE"),
    (
        {
            "name": "r",
            "type": "ROUTER",
            "class": "Router",
            "children": [
                {"name": "m", "class": "MyModel", "type": "Model"},
                {"name": "t", "class": "MyModel", "type": "TRANSFROMER"},
            ],
        },
        "seldon.graph.children[1].type",
        "TRANSFROMER",
    ),  # fmt: skip
    # two nodes of one name: meta.routing, requestPath and feedback could not tell them apart
    (
        {
            "name": "r",
            "type": "ROUTER",
            "class": "Router",
            "children": [{"name": "m", "class": "MyModel"}, {"name": "m", "class": "ClassNames"}],
        },
        "seldon.graph.children[1].name",
        "'m'",
    ),  # fmt: skip
    # children not a list: an AttributeError ('str' object has no attribute 'get')
    ({"name": "m", "class": "MyModel", "children": {"name": "c"}}, "seldon.graph.children", "list"),
    ({"name": "m", "class": "MyModel", "children": ["c"]}, "seldon.graph.children[0]", "object"),
    ({"type": "MODEL", "class": "MyModel"}, "seldon.graph.name", "name"),
    ({"name": "m", "class": 3}, "seldon.graph.class", "string"),
    (
        {"name": "m", "class": "Params", "parameters": [{"name": "alpha", "value": "1"}]},
        "seldon.graph.parameters",
        "type",
    ),
]


@pytest.mark.parametrize(("graph", "field", "said"), BAD_GRAPHS)
def test_a_graph_seldon_core_would_refuse_is_a_spec_error(graph, field, said):
    """Each node of seldon.graph is checked when the description is read, the field named:
    a misspelt type (a node easlab ran as a pass-through), a name used twice, children that
    are no list of nodes, a node without a name or with bad parameters."""
    from easlab.errors import SpecError
    from easlab.spec import parse_spec

    spec = {"name": "g", "processor": "seldon", "processor_path": str(COMPONENTS),
            "metadata": {"instance": 1}, "seldon": {"graph": graph}}  # fmt: skip
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    assert info.value.field == field
    assert said in str(info.value)


def test_a_bad_graph_is_refused_by_the_kernel_before_any_instance_starts(kernel):
    from easlab.errors import SpecError

    spec = {"name": "sg_bad", "processor": "seldon", "processor_path": str(COMPONENTS),
            "token": "tok-bad-graph-1234", "metadata": {"instance": 1},
            "seldon": {"graph": {"name": "m", "type": "MODLE", "class": "MyModel"}}}  # fmt: skip
    with pytest.raises(SpecError) as refused:  # the kernel's 400 naming the field
        kernel.client._call("POST", "/services", {"spec": spec})
    assert refused.value.field == "seldon.graph.type"
    assert "sg_bad" not in [s["name"] for s in kernel.client.list()]


def test_routing_of_a_router_below_a_combiner_or_output_transformer_reaches_feedback():
    """meta.routing is the request's: a router's pick is in the graph's answer wherever the
    router sits (seldon-core's executor keeps one routing map per request). Below a
    COMBINER or an OUTPUT_TRANSFORMER it was lost with the component's own answer, so
    feedback went to every child of the router and its send_feedback got routing None."""
    router = {
        "name": "router",
        "type": "ROUTER",
        "class": "FeedbackRouter",
        "children": [
            {"name": "a", "type": "MODEL", "class": "FeedbackSeen"},
            {"name": "b", "type": "MODEL", "class": "FeedbackSeen"},
        ],
    }
    graphs = [
        {"name": "out", "type": "OUTPUT_TRANSFORMER", "class": "Transformer",
         "children": [router]},
        {"name": "both", "type": "COMBINER", "class": "Combiner",
         "children": [router, {"name": "m", "type": "MODEL", "class": "MyModel"}]},
    ]  # fmt: skip
    for graph in graphs:
        app = GraphApp.from_spec(graph, COMPONENTS)
        nodes = {node.name: node.app.user_model for node in app.nodes()}
        nodes["a"].last = [[1.0, 2.0]]  # what FeedbackSeen predicts until it gets feedback
        status, response = predict(app, {"data": {"ndarray": [[1, 2]]}})
        assert status == 200, response
        assert response["meta"]["routing"] == {"router": 0}, graph["name"]
        feedback = {"request": {"data": {"ndarray": [[1, 2]]}}, "response": response,
                    "reward": 1}  # fmt: skip
        assert _feedback(app, feedback)[0] == 200
        assert nodes["router"].seen == [[0, 1.0]]
        assert nodes["a"].last["reward"] == ["float", 1.0]
        assert nodes["b"].last == {}  # not routed to: no feedback


def test_feedback_routing_written_as_text_is_the_child_it_names():
    """meta.routing {"router": "1"} (a proto int32 as text, as protobuf reads it) sends the
    feedback to child 1 only, as the router's send_feedback is told; easlab sent it to
    every child then."""
    app = GraphApp.from_spec(FEEDBACK_GRAPH, COMPONENTS)
    nodes = {node.name: node.app.user_model for node in app.nodes()}
    feedback = {"reward": 1, "response": {"meta": {"routing": {"router": "0"}}}}
    assert _feedback(app, feedback)[0] == 200
    assert nodes["router"].seen == [[0, 1.0]]
    assert nodes["a"].last["reward"] == ["float", 1.0]
    assert nodes["b"].last == nodes["c"].last == {}


def _ab_test(ratio: str | None, **node) -> dict:
    parameters = [] if ratio is None else [{"name": "ratioA", "value": ratio, "type": "FLOAT"}]
    return {"name": "ab", "implementation": "RANDOM_ABTEST", "parameters": parameters,
            "children": [{"name": "a", "type": "MODEL", "class": "MyModel"},
                         {"name": "b", "type": "MODEL", "class": "ClassNames"}], **node}  # fmt: skip


def test_random_abtest_routes_as_seldon_core_executor():
    """``"implementation": "RANDOM_ABTEST"`` (seldon-core's own A/B router, no class of the
    user's) sends a request to the first child with probability ratioA (0.5 without it),
    else to the second. easlab looked for a module RANDOM_ABTEST.py and failed to start."""
    for ratio, child, names in [("1.0", 0, {"a": "MyModel"}), ("0", 1, {"b": "ClassNames"})]:
        for graph in (_ab_test(ratio), _ab_test(ratio, type="ROUTER")):
            app = GraphApp.from_spec(graph, COMPONENTS)
            for _ in range(5):
                status, body = predict(app, {"data": {"ndarray": [[1, 2]]}})
                assert status == 200, body
                assert body["meta"]["routing"] == {"ab": child}
                assert body["meta"]["requestPath"] == {"ab": "RANDOM_ABTEST", **names}
    app = GraphApp.from_spec(_ab_test(None), COMPONENTS)  # ratioA 0.5: either child
    assert predict(app, {"data": {"ndarray": [[1, 2]]}})[1]["meta"]["routing"]["ab"] in (0, 1)
    from easlab.spec import parse_spec  # and such a graph is a valid description

    parse_spec({"name": "g", "processor": "seldon", "processor_path": str(COMPONENTS),
                "metadata": {"instance": 1}, "seldon": {"graph": _ab_test("0.3")}})  # fmt: skip


@pytest.mark.parametrize(
    ("graph", "field", "said"),
    [
        ({"name": "m", "implementation": "SKLEARN_SERVER", "modelUri": "gs://x"},
         "seldon.graph.implementation", "prepackaged"),
        ({"name": "m", "implementation": "SIMPLE_MODEL"}, "seldon.graph.implementation",
         "RANDOM_ABTEST"),
        ({**_ab_test("0.5"), "children": _ab_test("0.5")["children"][:1]},
         "seldon.graph.children", "two children"),
        (_ab_test("half"), "seldon.graph.parameters", "ratioA"),
        (_ab_test("0.5", type="MODEL"), "seldon.graph.type", "ROUTER"),
    ],
)  # fmt: skip
def test_builtin_implementations_easlab_does_not_run_are_spec_errors(graph, field, said):
    from easlab.errors import SpecError
    from easlab.spec import parse_spec

    spec = {"name": "g", "processor": "seldon", "processor_path": str(COMPONENTS),
            "metadata": {"instance": 1}, "seldon": {"graph": graph}}  # fmt: skip
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    assert info.value.field == field
    assert said in str(info.value)


def test_health_status_of_a_graph_asks_every_node():
    """/health/status of a graph answers 200 only when each node's health_status() does
    (seldon-core's executor asks each node); a failing node's answer is seldon-core's error
    body. A graph asked its root only (a sick child answered 200 "healthy"), and a root
    whose health_status() raised let the exception out of GraphApp.handle."""
    from easlab.seldon.app import SeldonApp
    from easlab.seldon.component import build_component, load_component_class

    def sick() -> SeldonApp:
        return SeldonApp(build_component(load_component_class(COMPONENTS, "Sick")))

    error = {"status": {"code": -1, "info": "model weights not loaded",
                        "reason": "MICROSERVICE_INTERNAL_ERROR", "status": 1}}  # fmt: skip
    one = GraphApp.one_node("t", "TRANSFORMER", "Sick", sick())
    chain = GraphApp.from_spec(
        {"name": "m", "class": "MyModel", "children": [{"name": "s", "class": "Sick"}]},
        COMPONENTS,
    )
    for app in (one, chain):
        answer = app.handle("GET", "/health/status")
        assert (answer.status, json.loads(answer.body)) == (500, error)
    healthy = GraphApp.from_spec(GRAPH, COMPONENTS)
    answer = healthy.handle("GET", "/health/status")
    assert answer.status == 200, answer.body
    assert answer.body == healthy.root.app.handle("GET", "/health/status").body


def test_graph_metadata_as_seldon_core_executor():
    """GET /api/v1.0/metadata of a graph is seldon-core's executor's graph metadata: each
    node's metadata (empty fields left out, as the executor writes them) under its name,
    the inputs of the node a request enters by and the outputs of the one it leaves by.
    easlab answered the root component's own metadata; /metadata still is that."""
    graph = {"name": "t", "type": "TRANSFORMER", "class": "Transformer",
             "children": [{"name": "r", "type": "ROUTER", "class": "Router",
                           "children": [{"name": "g", "class": "GoodMeta"},
                                        {"name": "m", "class": "MyModel"}]}]}  # fmt: skip
    app = GraphApp.from_spec(graph, COMPONENTS)
    app.name = "my-graph"
    answer = app.handle("GET", "/api/v1.0/metadata")
    assert answer.status == 200, answer.body
    plain = {"versions": [""], "inputs": [], "outputs": []}
    good = {"name": "model-name", "versions": ["model-version"], "platform": "platform-name",
            "inputs": [{"name": "input", "datatype": "BYTES", "shape": [1]}],
            "outputs": [{"messagetype": "ndarray", "schema": {"names": ["a"], "shape": [2]}}]}  # fmt: skip
    assert json.loads(answer.body) == {
        "name": "my-graph",
        "models": {"t": plain, "r": plain, "g": good, "m": plain},
        "graphinputs": [],  # the transformer's
        "graphoutputs": good["outputs"],  # the router's first child's
    }
    assert app.handle("GET", "/metadata").body == app.root.app.handle("GET", "/metadata").body
    # an OUTPUT_TRANSFORMER or COMBINER above: inputs from its first child, outputs its own
    out = GraphApp.from_spec(
        {"name": "o", "type": "OUTPUT_TRANSFORMER", "class": "Transformer",
         "children": [{"name": "g", "class": "GoodMeta"}]}, COMPONENTS,
    )  # fmt: skip
    body = json.loads(out.handle("GET", "/api/v1.0/metadata").body)
    assert (body["graphinputs"], body["graphoutputs"]) == (good["inputs"], [])
    # a node whose metadata is invalid: its own 500 MICROSERVICE_BAD_METADATA
    bad = GraphApp.from_spec(
        {"name": "m", "class": "MyModel", "children": [{"name": "b", "class": "BadMeta"}]},
        COMPONENTS,
    )
    answer = bad.handle("GET", "/api/v1.0/metadata")
    assert answer.status == 500
    assert json.loads(answer.body)["status"]["reason"] == "MICROSERVICE_BAD_METADATA"


def test_graph_metadata_bytes_as_the_executor_marshals_them():
    """The executor decodes each node's metadata into its ModelMetadata struct and
    writes the graph's with Go's json.Marshal: fields in the structs' order, other keys
    (custom) dropped, objects inside with sorted keys, non-ASCII as UTF-8, <, >, & as
    \\u003c ... (predictor/metadata.go, read from seldon-core's source: its Go executor
    does not run here). easlab wrote flask's JSON: sorted keys everywhere, custom kept,
    non-ASCII as \\u escapes, a newline at the end."""
    app = GraphApp.from_spec({"name": "w", "class": "WideMeta"}, COMPONENTS)
    app.name = "g"
    answer = app.handle("GET", "/api/v1.0/metadata")
    inputs = '[{"datatype":"BYTES","name":"x","shape":[1]}]'
    assert answer.status == 200, answer.body
    assert answer.body.decode() == (
        '{"name":"g","models":{"w":{"name":"模型 \\u003cv2\\u003e","platform":"p",'
        f'"versions":["v1"],"inputs":{inputs},"outputs":[]}}}},"graphinputs":{inputs},'
        '"graphoutputs":[]}'
    )


def test_a_node_that_fails_answers_for_the_graph_as_its_microservice_would():
    """A node's failure stops the graph with the answer its own microservice gives (the
    executor stops at a node's non-200 and passes its status and body on): a predict_raw
    status.code is the HTTP status, a node's model_error_handler answers its exception.
    easlab answered 200 with the failure as a message (and ran the nodes after it on it),
    and a child's custom exception went to the root's handler: a generic 500."""
    from easlab.seldon.app import SeldonApp
    from easlab.seldon.component import build_component, load_component_class

    def alone(cls: str, payload: dict) -> tuple[int, bytes]:
        app = SeldonApp(build_component(load_component_class(COMPONENTS, cls)))
        answer = app.handle("POST", "/api/v1.0/predictions", "", "application/json",
                            json.dumps(payload).encode())  # fmt: skip
        return answer.status, answer.body

    cases = [("Raw", {"data": {"ndarray": "fail"}}, 422),
             ("CustomError", {"data": {"ndarray": [[1]]}}, 402),
             ("CustomError", {"data": {"ndarray": [[0]]}}, 500)]  # fmt: skip
    for cls, payload, status in cases:
        graph = {"name": "out", "type": "OUTPUT_TRANSFORMER", "class": "Transformer",
                 "children": [{"name": "c", "type": "COMBINER", "class": "Combiner",
                               "children": [{"name": "m", "class": cls},
                                            {"name": "n", "class": "MyModel"}]}]}  # fmt: skip
        answer = GraphApp.from_spec(graph, COMPONENTS).handle(
            "POST", "/api/v1.0/predictions", "", "application/json", json.dumps(payload).encode()
        )
        assert (answer.status, answer.body) == alone(cls, payload) and answer.status == status


def test_a_nodes_own_status_and_metadata_by_its_name_as_seldon_core_executor():
    """seldon-core's executor serves each node's own /health/status and /metadata at
    /api/v{1.0,0.1}/status/{node} and /api/v{1.0,0.1}/metadata/{node}, and the graph's
    readiness at /api/v1.0/status; a name no node has is its 500 "Failed to find model".
    easlab answered all of them with the root's 500 "404 Not Found"."""
    app = GraphApp.from_spec(GRAPH, COMPONENTS)
    for version in ("v1.0", "v0.1"):
        for name in ("input", "router", "m2"):
            node = next(node for node in app.nodes() if node.name == name)
            for path, own in (("metadata", "/metadata"), ("status", "/health/status")):
                answer = app.handle("GET", f"/api/{version}/{path}/{name}")
                assert (answer.status, answer.body) == (200, node.app.handle("GET", own).body)
        missing = app.handle("GET", f"/api/{version}/metadata/nope")
        assert missing.status == 500
        status = json.loads(missing.body)["status"]
        assert status["info"].startswith("Failed to find model nope")
        assert "input, router, identity, combine, m1, m2" in status["info"]
    ready = app.handle("GET", "/api/v1.0/status")
    assert (ready.status, ready.body) == (200, b"")
    # a node that is not healthy answers as itself there, and the graph is not ready
    sick = GraphApp.from_spec(
        {"name": "m", "class": "MyModel", "children": [{"name": "s", "class": "Sick"}]},
        COMPONENTS,
    )
    assert sick.handle("GET", "/api/v1.0/status/s").status == 500
    assert sick.handle("GET", "/api/v1.0/status/m").status == 200
    assert sick.handle("GET", "/api/v1.0/status").status == 503
    # the executor's paths take GET only (another method is mux's empty 405); /seldon.json
    # lists them
    refused = app.handle("POST", "/api/v1.0/metadata/m1", "", "application/json", b"{}")
    assert (refused.status, refused.body) == (405, b"")
    paths = json.loads(app.handle("GET", "/seldon.json").body)["paths"]
    assert {"/api/v1.0/status", "/api/v1.0/metadata/{model}", "/api/v0.1/status/{model}"} <= set(
        paths
    )
    assert paths["/api/v1.0/metadata/{model}"]["get"]["parameters"][0]["name"] == "model"


def test_readiness_and_liveness_as_seldon_core_executor(caplog):
    """seldon-core's executor answers /ready, /api/v1.0/status and /api/v1.0/health/status
    with its readiness (200 when every node's health status answers 200, else 503) and
    /live with 200, each with no body, whatever the method. easlab had no /ready or /live
    (the root's 500 "404 Not Found") and answered the status paths with a node's health
    body; /health/status, the microservice's path, still answers that body."""
    healthy = GraphApp.from_spec(GRAPH, COMPONENTS)
    sick = GraphApp.from_spec(
        {"name": "m", "class": "MyModel", "children": [{"name": "s", "class": "Sick"}]},
        COMPONENTS,
    )
    for path in ("/ready", "/api/v1.0/status", "/api/v1.0/health/status"):
        for app, status in ((healthy, 200), (sick, 503)):
            answer = app.handle("GET", path)
            assert (answer.status, answer.body) == (status, b""), (path, answer)
            # /ready's route names no method, the status paths' GET only (mux: HEAD is no GET)
            assert app.handle("HEAD", path).status == (status if path == "/ready" else 405)
    assert "node s answered 500" in caplog.text and "model weights not loaded" in caplog.text
    for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"):
        assert sick.handle(method, "/live") == healthy.handle(method, "/live")
        assert (sick.handle(method, "/live").status, sick.handle(method, "/live").body) == (
            200,
            b"",
        )
        assert sick.handle(method, "/ready").status == 503, method
    # the status paths take GET only, as the executor routes them: mux's empty 405
    refused = healthy.handle("POST", "/api/v1.0/health/status", "", "application/json", b"{}")
    assert (refused.status, refused.body) == (405, b"")
    assert json.loads(sick.handle("GET", "/health/status").body)["status"]["info"] == (
        "model weights not loaded"
    )
    paths = json.loads(healthy.handle("GET", "/seldon.json").body)["paths"]
    assert set(paths["/ready"]) == {"get", "head", "post", "put", "delete", "patch"}
    assert set(paths["/api/v1.0/health/status"]["get"]["responses"]) == {"200", "503"}


def _counts(text: str) -> dict[tuple[str, tuple], float]:
    """Each histogram's ``_count`` in Prometheus text, by family and labels."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (family.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.endswith("_count")
    }


def test_prometheus_path_as_seldon_core_executor():
    """seldon-core's executor serves its own Prometheus metrics at /prometheus (the path
    its operator gives it): a histogram of its answers by service, method and code, and
    one of its calls to each node by the node's name and path. easlab had no such path
    (the root's 500 "404 Not Found")."""
    app = GraphApp.from_spec(GRAPH, COMPONENTS)
    app.name = "svc"
    empty = app.handle("GET", "/prometheus")
    assert (empty.status, empty.body) == (200, b"")  # no family before a series
    for payload in ({"data": {"ndarray": [[1, 2]]}}, {"data": {"ndarray": [[9, 1]]}},
                    {"data": {"ndarray": [[-5, 1]]}}):  # fmt: skip
        predict(app, payload)  # identity branch, combiner branch, the router fails (400)
    assert app.handle("GET", "/api/v1.0/status/m1").status == 200
    assert app.handle("GET", "/ready").status == 200  # not counted: no wrapMetrics there
    answer = app.handle("GET", "/prometheus")
    assert answer.status == 200
    assert answer.content_type == "text/plain; version=0.0.4; charset=utf-8"
    graph = {"deployment_name": "svc", "predictor_name": "svc", "predictor_version": ""}

    def server(service: str, method: str, code: str) -> tuple:
        labels = {**graph, "service": service, "method": method, "code": code}
        return ("seldon_api_executor_server_requests_seconds", tuple(sorted(labels.items())))

    def client(node: str, path: str, method: str, code: str) -> tuple:
        labels = {**graph, "service": path, "model_name": node, "model_image": "",
                  "model_version": "", "method": method, "code": code}  # fmt: skip
        return ("seldon_api_executor_client_requests_seconds", tuple(sorted(labels.items())))

    assert _counts(answer.body.decode()) == {
        server("predictions", "post", "200"): 2,
        server("predictions", "post", "400"): 1,
        server("status", "get", "200"): 1,
        client("input", "/transform-input", "post", "200"): 3,
        client("router", "/route", "post", "200"): 2,
        client("router", "/route", "post", "400"): 1,
        client("identity", "/predict", "post", "200"): 1,
        client("m1", "/predict", "post", "200"): 1,
        client("m2", "/predict", "post", "200"): 1,
        client("combine", "/aggregate", "post", "200"): 1,
        client("m1", "/health/status", "get", "200"): 1,
    }
    assert app.handle("POST", "/prometheus", "", "application/json", b"{}").status == 200
    paths = json.loads(app.handle("GET", "/seldon.json").body)["paths"]
    assert "text/plain" in paths["/prometheus"]["get"]["responses"]["200"]["content"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"service_type": "ROUTER"}, "seldon.service_type"),
     ({"service_type": "MODEL"}, "seldon.service_type"),
     ({"parameters": [{"name": "a", "value": "1", "type": "INT"}]}, "seldon.parameters")],
)  # fmt: skip
def test_service_type_or_parameters_beside_a_graph_are_spec_errors(extra, field):
    """seldon.service_type and seldon.parameters given with seldon.graph were silently
    ignored (each node has its own type and parameters): now a SpecError naming the field."""
    from easlab.errors import SpecError
    from easlab.spec import parse_spec

    raw = {"name": "g", "processor": "seldon", "processor_path": str(COMPONENTS),
           "metadata": {"instance": 1}, "seldon": {"graph": GRAPH, **extra}}  # fmt: skip
    with pytest.raises(SpecError) as info:
        parse_spec(raw)
    assert info.value.field == field
    assert "each node has its own" in str(info.value)


@pytest.mark.parametrize(
    ("route", "picked"),
    [({"data": {"ndarray": [[1]]}}, 1),  # what route() answers
     ({"data": {"ndarray": [1]}}, 1),
     ({"data": {"tensor": {"shape": [1], "values": [1.9]}}}, 1),
     ({"data": {"tftensor": {"dtype": "DT_INT32", "intVal": [1]}}}, 1),
     ([1, 0], 1),  # a JSON array
     ({"data": {"ndarray": [[True]]}}, 0),  # no number: protobuf's 0
     ({"data": {"ndarray": [["1"]]}}, 0),
     ({"strData": "left"}, -1),  # no data: every child, the first one's answer
     ({"meta": {}}, -1)],
)  # fmt: skip
def test_a_route_raw_answer_is_read_as_seldon_core_executor_reads_it(route, picked):
    """The executor reads a router's /route answer as a SeldonMessage (the first value of
    data.ndarray, data.tensor or data.tftensor.intVal; -1 without data) or a JSON array
    of ints. easlab read only ndarray[0][0] or tensor: a route_raw answering
    {"data": {"ndarray": [1]}}, [1] or {"strData": ...} was a 500 "'int' object is not
    subscriptable" (or "'data'"), a tftensor or an empty ndarray silently child 0."""
    graph = {"name": "r", "type": "ROUTER", "class": "RouteRaw",
             "children": [{"name": "a", "class": "MyModel"}, {"name": "b", "class": "MyModel"}]}  # fmt: skip
    status, body = predict(GraphApp.from_spec(graph, COMPONENTS), {"jsonData": {"route": route}})
    assert status == 200, body
    assert body["meta"]["routing"] == {"r": picked}
    assert set(body["meta"]["requestPath"]) == {"r", "b" if picked == 1 else "a"}


@pytest.mark.parametrize(
    "route",
    [{"data": {"ndarray": []}}, {"data": {"ndarray": [[]]}}, {"route": 1}, [[1]], [True],
     {"data": {"tensor": {"values": []}}}],
)  # fmt: skip
def test_a_route_raw_answer_with_no_route_is_a_clear_error(route):
    """What the executor cannot read as a route (it fails, or panics on an empty array)
    is a 500 naming the router, what it answered and what a route looks like; easlab sent
    an empty ndarray to child 0 and said "'data'" for an object that is no message."""
    graph = {"name": "r", "type": "ROUTER", "class": "RouteRaw",
             "children": [{"name": "a", "class": "MyModel"}, {"name": "b", "class": "MyModel"}]}  # fmt: skip
    status, body = predict(GraphApp.from_spec(graph, COMPONENTS), {"jsonData": {"route": route}})
    assert status == 500, body
    info = body["status"]["info"]
    assert info.startswith(f"router r answered {json.dumps(route)}: no route in it"), info
    assert "data.ndarray ([[index]])" in info and body["status"]["status"] == "FAILURE"


def test_a_combiner_gets_its_childrens_answers_as_the_executor_sends_them(real_seldon):
    """seldon-core's executor sends a COMBINER's /aggregate a JSON list of its children's
    answers (CombineSeldonMessagesToJson), which an aggregate_raw gets as it is. easlab
    sent {"seldonMessages": [...]}: an aggregate_raw written for a SeldonDeployment
    (``for m in msgs: m["data"]...``) failed with a 500 "string indices must be
    integers". Three children; the answer is the real microservice's to that list."""
    import requests

    children = [{"name": "m1", "class": "MyModel"}, {"name": "m2", "class": "ClassNames"},
                {"name": "m3", "class": "MyModel"}]  # fmt: skip
    graph = {"name": "c", "type": "COMBINER", "class": "AggregateRaw", "children": children}
    status, body = predict(GraphApp.from_spec(graph, COMPONENTS), {"data": {"ndarray": [[2]]}})
    assert status == 200, body
    assert body["data"] == {"names": ["total"], "ndarray": [[8.0]]}  # 2 + 4.0 + 2
    assert body["meta"]["tags"] == {"n": 3}
    # each child's answer, as its microservice gives it, sent to the real /aggregate
    answers = [
        requests.post(real_seldon.url(node["class"]) + "/predict", json={"data": {"ndarray": [[2]]}},
                      timeout=30).json()
        for node in children
    ]  # fmt: skip
    theirs = requests.post(real_seldon.url("AggregateRaw") + "/aggregate", json=answers, timeout=30)
    assert theirs.status_code == 200
    assert {**body, "meta": {"tags": body["meta"]["tags"]}} == theirs.json()


def test_a_nodes_methods_are_called_as_seldon_core_executor_calls_them():
    """A SeldonDeployment node may name ``methods`` (TRANSFORM_INPUT, TRANSFORM_OUTPUT,
    ROUTE, AGGREGATE, SEND_FEEDBACK): the executor calls those besides its type's, and a
    node with methods and no type (or UNKNOWN_TYPE) makes only those. easlab ignored
    them: such a node ran as a MODEL (a Transformer's missing predict: an empty answer)."""
    both = {"name": "pre", "methods": ["TRANSFORM_INPUT", "TRANSFORM_OUTPUT"],
            "class": "Transformer", "children": [{"name": "m", "class": "MyModel"}]}  # fmt: skip
    status, body = predict(GraphApp.from_spec(both, COMPONENTS), {"data": {"ndarray": [[1, 2]]}})
    assert status == 200, body
    assert body["data"]["ndarray"] == [[20, 30]]  # (x + 1) through MyModel, then * 10
    assert set(body["meta"]["requestPath"]) == {"pre", "m"}
    unknown = {**both, "type": "UNKNOWN_TYPE"}
    assert predict(GraphApp.from_spec(unknown, COMPONENTS), {"data": {"ndarray": [[1, 2]]}}) == (
        status,
        body,
    )
    # a MODEL that also transforms its input: the executor calls transform_input for it
    model = {"name": "t", "type": "MODEL", "methods": ["TRANSFORM_INPUT"], "class": "Transformer"}
    status, body = predict(GraphApp.from_spec(model, COMPONENTS), {"data": {"ndarray": [[1]]}})
    assert (status, body["data"]["ndarray"]) == (200, [[2]])
    # SEND_FEEDBACK: feedback reaches a TRANSFORMER that names it (FeedbackSeen's record)
    learner = GraphApp.from_spec(
        {"name": "t", "type": "TRANSFORMER", "methods": ["SEND_FEEDBACK"],
         "class": "FeedbackSeen"}, COMPONENTS,
    )  # fmt: skip
    answer = learner.handle("POST", "/api/v1.0/feedback", "", "application/json",
                            json.dumps({"reward": 1.0}).encode())  # fmt: skip
    assert answer.status == 200, answer.body
    assert learner.root.app.user_model.last["reward"] == ["float", 1.0]


@pytest.mark.parametrize(
    ("node", "field", "said"),
    [({"methods": "ROUTE"}, "methods", "a list of TRANSFORM_INPUT"),
     ({"methods": ["PREDICT"]}, "methods", "'PREDICT'"),
     ({"type": "UNKNOWN_TYPE"}, "methods", "has no methods: change it to a known type"),
     ({"type": "SIMPLE"}, "type", "or UNKNOWN_TYPE with the node's methods")],
)  # fmt: skip
def test_a_nodes_methods_seldon_core_would_refuse_are_spec_errors(node, field, said):
    from easlab.errors import SpecError
    from easlab.spec import parse_spec

    graph = {"name": "n", "class": "Transformer", **node}
    raw = {"name": "g", "processor": "seldon", "processor_path": str(COMPONENTS),
           "metadata": {"instance": 1}, "seldon": {"graph": graph}}  # fmt: skip
    with pytest.raises(SpecError) as info:
        parse_spec(raw)
    assert info.value.field == f"seldon.graph.{field}"
    assert said in str(info.value)


def test_prometheus_series_are_not_made_by_any_method_a_caller_sends():
    """Each method name a caller sends made a series of its own in /prometheus (a memory
    that grows with every made-up method: PURGE, FOO1, FOO2, ...). Only the methods the
    executor's route takes are counted now: any other is mux's 405, which never reaches
    the handler its metrics wrap."""
    app = GraphApp.from_spec(GRAPH, COMPONENTS)
    body = json.dumps({"data": {"ndarray": [[1, 2]]}}).encode()
    for method in ("FOO1", "FOO2", "PURGE", "POST", "DELETE"):
        app.handle(method, "/api/v1.0/predictions", "", "application/json", body)
    methods = {
        dict(labels)["method"]
        for (name, labels) in _counts(app.handle("GET", "/prometheus").body.decode())
        if name == "seldon_api_executor_server_requests_seconds"
    }
    assert methods == {"post"}


def _meeting(name: str, group: str, parties: int, answer: int = 0, fail: str = "") -> dict:
    """A MODEL node that answers ``[[answer]]`` (or fails with ``fail``) once all
    ``parties`` nodes of its ``group`` are in a call at the same time (Rendezvous.py)."""
    parameters = [
        {"name": "group", "value": group, "type": "STRING"},
        {"name": "parties", "value": str(parties), "type": "INT"},
        {"name": "answer", "value": str(answer), "type": "INT"},
        {"name": "fail", "value": fail, "type": "STRING"},
    ]
    return {"name": name, "type": "MODEL", "class": "Rendezvous", "parameters": parameters}


def test_a_nodes_children_are_called_at_once_as_the_executor_calls_them():
    """seldon-core's executor calls every child of a node at once (a goroutine each): a
    COMBINER's, and a router's for a route of -1; the answers are taken in child order.
    easlab called them one at a time, so children that wait for each other (a barrier of
    all of them) never met: the first one's wait broke, a 500."""
    combiner = {"name": "all", "type": "COMBINER", "class": "AggregateRaw",
                "children": [_meeting("a", "combine", 3, 1), _meeting("b", "combine", 3, 2),
                             _meeting("c", "combine", 3, 4)]}  # fmt: skip
    app = GraphApp.from_spec(combiner, COMPONENTS)
    for _ in range(2):  # each request's children meet again
        status, body = predict(app, {"data": {"ndarray": [[0]]}})
        assert status == 200, body
        assert body["data"]["ndarray"] == [[7]] and body["meta"]["tags"] == {"n": 3}
    router = {"name": "r", "type": "ROUTER", "class": "RouteAll",
              "children": [_meeting("x", "route", 2, 5), _meeting("y", "route", 2, 6)]}  # fmt: skip
    app = GraphApp.from_spec(router, COMPONENTS)
    status, body = predict(app, {"data": {"ndarray": [[0]]}})
    assert status == 200, body
    assert body["data"]["ndarray"] == [[5]]  # the first child's answer, whichever ended first
    assert body["meta"]["routing"] == {"r": -1}
    # feedback goes down to every child the routing names (-1: all) at once too
    feedback = {"request": {"data": {"ndarray": [[0]]}}, "response": body, "reward": 1}
    status, answer = _feedback(app, feedback)
    assert status == 200, answer


def test_children_called_at_once_fail_with_the_first_failing_childs_answer():
    """When children called at once fail, the executor waits for all of them, then answers
    the first failing child's error in child order (not the first to end)."""
    graph = {"name": "all", "type": "COMBINER", "class": "AggregateRaw",
             "children": [_meeting("fine", "fail", 3, 1),
                          _meeting("second", "fail", 3, fail="the second child failed"),
                          _meeting("third", "fail", 3, fail="the third child failed")]}  # fmt: skip
    status, body = predict(GraphApp.from_spec(graph, COMPONENTS), {"data": {"ndarray": [[0]]}})
    assert status == 500
    assert body["status"]["info"] == "the second child failed"
    assert body["status"]["reason"] == "MICROSERVICE_INTERNAL_ERROR"


def test_the_executors_cors_comes_from_its_environment(monkeypatch):
    """The executor's CORS answer is CORS_ALLOWED_ORIGINS and CORS_ALLOWED_HEADERS where
    they are set (middlewares.go reads them for each request), its defaults otherwise;
    a path that is no route of the executor's has none of its headers."""
    from easlab.seldon.cors import executor_headers

    def headers(method: str, path: str) -> dict[str, str] | None:
        given = executor_headers(method, path, {"Seldon-Puid": "p"}.get)
        return None if given is None else dict(given)

    default = headers("POST", "/api/v1.0/predictions")
    assert default is not None and default["Access-Control-Allow-Origin"] == "*"
    assert default["Seldon-Puid"] == "p"
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://app.example")
    monkeypatch.setenv("CORS_ALLOWED_HEADERS", "Content-Type")
    ready = headers("OPTIONS", "/ready")
    assert ready is not None
    assert (ready["Access-Control-Allow-Origin"], ready["Access-Control-Allow-Headers"]) == (
        "https://app.example", "Content-Type")  # fmt: skip
    assert "Access-Control-Allow-Methods" not in ready  # /ready's route names no method
    assert headers("GET", "/health/ping") is None and headers("PUT", "/api/v1.0/status") == {}
