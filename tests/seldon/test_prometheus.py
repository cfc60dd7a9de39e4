"""Custom metrics for Prometheus: ``easlab seldon`` against the real seldon-core 1.18.2
(the metrics port's ``GET /metrics``, text for text), and the kernel's ``/metrics``."""

from __future__ import annotations

import re

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.seldon.conftest import EaslabSeldon, RealSeldon
from tests.seldon.test_kernel import seldon_service

PREDICT = "/api/v1.0/predictions"
#: what each server is sent, in order: predictions whose first value becomes the gauge
#: and a timer, a feedback with a reward, one without (not counted), a health status
CALLS = [
    ("POST", PREDICT, {"data": {"ndarray": [[1.5, 2]]}}),
    ("POST", PREDICT, {"data": {"ndarray": [[3], [4]]}}),
    ("POST", "/predict", {"data": {"tensor": {"shape": [1, 1], "values": [2500]}}}),
    ("POST", "/api/v1.0/feedback", {"reward": 0.5}),
    ("POST", "/api/v1.0/feedback", {"reward": 0}),
    ("GET", "/health/status", None),
]


def _send(base: str, headers: dict[str, str] | None = None) -> list[tuple[int, object]]:
    answers = []
    for method, path, payload in CALLS:
        r = requests.request(method, base + path, json=payload, headers=headers, timeout=30)
        body = r.json()
        if isinstance(body, dict) and isinstance(body.get("meta"), dict):
            body["meta"].pop("puid", None)
        answers.append((r.status_code, body))
    return answers


def _samples(text: str, drop: tuple[str, ...]) -> dict[tuple[str, str], list[tuple]]:
    """Samples by family (name, type), without the ``drop`` labels. seldon-core writes a
    family per series, so a name may come more than once."""
    out: dict[tuple[str, str], list[tuple]] = {}
    for fam in text_string_to_metric_families(text):
        out.setdefault((fam.name, fam.type), []).extend(
            (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k not in drop)), s.value)
            for s in fam.samples
        )
    return {key: sorted(samples) for key, samples in out.items()}


def test_standalone_metrics_as_seldon_core(real_seldon, easlab_seldon):
    """The same calls to both; then the metrics port's text is the same, but for the
    worker id (each server's pid), and the answers show the ``method`` tag alike."""
    theirs = _send(real_seldon.url("CustomMetrics"))
    ours = _send(easlab_seldon.url("CustomMetrics"))
    assert ours == theirs
    (tagged,) = [m for m in theirs[0][1]["meta"]["metrics"] if m["key"] == "rows_total"]
    assert tagged["tags"] == {"color": "red", "method": "predict"}

    got_theirs = requests.get(real_seldon.metrics_url("CustomMetrics"), timeout=30)
    got_ours = requests.get(easlab_seldon.metrics_url("CustomMetrics"), timeout=30)
    assert got_ours.status_code == got_theirs.status_code == 200
    assert got_ours.headers["Content-Type"].startswith("text/plain; version=0.0.4")

    def text(r: requests.Response) -> str:
        # seldon-core computes its timer's bucket edges with numpy.logspace at start-up,
        # whose last digit depends on the CPU's vector code (on one machine 1.26 gives
        # 0.0018797905611233593, on another 0.001879790561123359); easlab writes them
        # out (seldon/metrics.py BINS): the edges are compared to 12 significant digits
        def edge(m: re.Match[str]) -> str:
            return f'le="{float(m.group(1)):.12g}"'

        return re.sub(r'le="([^"]+)"', edge, re.sub(r'worker_id="\d+"', 'worker_id="W"', r.text))

    assert text(got_ours) == text(got_theirs)
    families = _samples(got_ours.text, ("worker_id",))
    assert {key for key in families} == {
        ("rows", "counter"),
        ("model_ms", "histogram"),
        ("mycounter", "counter"),
        ("last_input", "gauge"),
        ("mytimer", "histogram"),
        ("seldon_api_model_feedback", "counter"),
        ("seldon_api_model_feedback_reward", "counter"),
    }
    rows = families[("rows", "counter")]
    assert [(name, dict(labels)["color"], value) for name, labels, value in rows] == [
        ("rows_total", "red", 4.0)  # the rows of the 3 predictions: 1 + 2 + 1
    ]
    # a counter adds, per method: 3 predictions, 2 feedbacks, 1 health status
    assert sorted((dict(lab)["method"], v) for _, lab, v in families[("mycounter", "counter")]) == [
        ("feedback", 2.0),
        ("health", 1.0),
        ("predict", 3.0),
    ]
    # a gauge is set: the last prediction's first value
    assert [
        v for _, lab, v in families[("last_input", "gauge")] if dict(lab)["method"] == "predict"
    ] == [2500.0]
    # a timer, in ms, is a histogram in seconds: 1.5, 3 and 2500 ms
    timer = {(n, dict(lab).get("le")): v for n, lab, v in families[("model_ms", "histogram")]}
    assert timer[("model_ms_count", None)] == 3.0
    assert timer[("model_ms_sum", None)] == pytest.approx(2.5045)
    assert timer[("model_ms_bucket", "0.001")] == 0.0
    assert timer[("model_ms_bucket", "0.0035336125536884733")] == 2.0
    assert timer[("model_ms_bucket", "+Inf")] == 3.0
    assert families[("seldon_api_model_feedback", "counter")][0][2] == 1.0
    assert families[("seldon_api_model_feedback_reward", "counter")][0][2] == 0.5

    # other paths of the metrics port: not found, as there (flask's 404)
    assert (
        requests.get(easlab_seldon.metrics_url("CustomMetrics") + "x", timeout=30).status_code
        == 404
    )
    assert (
        requests.get(real_seldon.metrics_url("CustomMetrics") + "x", timeout=30).status_code == 404
    )


def test_standalone_without_custom_metrics_has_none():
    # servers of its own: the session's MyModel may have had feedback from another module
    real_seldon, easlab_seldon = RealSeldon(), EaslabSeldon()
    try:
        for server in (real_seldon, easlab_seldon):
            requests.post(
                server.url("MyModel") + PREDICT, json={"data": {"ndarray": [[1]]}}, timeout=30
            )
        theirs = requests.get(real_seldon.metrics_url("MyModel"), timeout=30).text
        ours = requests.get(easlab_seldon.metrics_url("MyModel"), timeout=30).text
    finally:
        real_seldon.close()
        easlab_seldon.close()
    assert ours == theirs == ""


def test_kernel_metrics_per_service(kernel):
    """A Seldon component deployed to the kernel: its custom metrics in the kernel's
    ``/metrics`` (admin token), with ``service`` and ``instance`` labels, summed over
    the calls; a component without custom metrics adds nothing."""
    service = seldon_service(kernel, "sk_custom_metrics", "CustomMetrics")
    plain = seldon_service(kernel, "sk_no_metrics", "MyModel")
    headers = {"Authorization": service.token}
    answers = _send(service.url, headers)
    assert [status for status, _ in answers] == [200] * len(CALLS)
    requests.post(
        plain.url + PREDICT, json={"data": {"ndarray": [[1]]}}, headers=headers, timeout=30
    )

    r = requests.get(f"{kernel.endpoint}/metrics", headers=kernel.admin_headers(), timeout=10)
    assert r.status_code == 200
    families = _samples(r.text, ())
    rows = families[("rows", "counter")]
    assert rows == [
        (
            "rows_total",
            tuple(
                sorted(
                    {
                        "color": "red",
                        "method": "predict",
                        "service": "sk_custom_metrics",
                        "instance": "sk_custom_metrics-0",
                    }.items()
                )
            ),  # fmt: skip
            4.0,
        )
    ]
    mycounter = {dict(lab)["method"]: v for _, lab, v in families[("mycounter", "counter")]}
    assert mycounter == {"predict": 3.0, "feedback": 2.0, "health": 1.0}
    gauge = {dict(lab)["method"]: v for _, lab, v in families[("last_input", "gauge")]}
    assert gauge["predict"] == 2500.0
    timer = {(n, dict(lab).get("le")): v for n, lab, v in families[("model_ms", "histogram")]}
    assert timer[("model_ms_count", None)] == 3.0
    assert timer[("model_ms_bucket", "+Inf")] == 3.0
    assert families[("seldon_api_model_feedback_reward", "counter")][0][2] == 0.5
    # nothing of the service without custom metrics beyond the kernel's own families
    custom = [
        s
        for fam in text_string_to_metric_families(r.text)
        if not fam.name.startswith("easlab_")
        for s in fam.samples
    ]
    assert {dict(s.labels)["service"] for s in custom} == {"sk_custom_metrics"}
    # the kernel's own metrics are still there, and /metrics still needs the admin token
    assert ("easlab_requests", "counter") in families
    assert (
        requests.get(f"{kernel.endpoint}/metrics", headers=headers, timeout=10).status_code == 401
    )

    # more calls: the counter goes on adding
    _send(service.url, headers)
    r = requests.get(f"{kernel.endpoint}/metrics", headers=kernel.admin_headers(), timeout=10)
    assert _samples(r.text, ())[("rows", "counter")][0][2] == 8.0
