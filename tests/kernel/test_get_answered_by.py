"""``ServiceDesc.get_answered_by``: who answers ``GET /api/predict/{name}``, so that the
notebook does not GET a service whose GET would run its model (routes.py's rule)."""

from __future__ import annotations

import dataclasses

from service_standin import run, service

from easlab.kernel.control import Kernel, _get_answered_by
from easlab.kernel.processors import AIGES, SELDON

SIGNATURE = {"inputs": [{"name": "x", "shape": [-1, 4], "type": "DT_FLOAT"}], "outputs": []}


def test_a_service_says_it_once_an_instance_has_told_its_signature(tmp_path):
    def test(loop):
        svc = service(Kernel(tmp_path, loop), tmp_path, "get_answer")
        assert svc.get_answered_by() is None  # no instance has started: not known yet
        svc.record_signature(svc.current, None, None)
        assert svc.get_answered_by() == "model"  # EAS passes the GET on to process(b"")
        assert svc.describe("http://127.0.0.1:1")["get_answered_by"] == "model"
        svc.record_signature(svc.current, SIGNATURE, "tf")
        assert svc.get_answered_by() == "kernel"

    run(test)


def test_seldon_and_aiges_processors_answer_their_own_get(tmp_path):
    def test(loop):
        svc = service(Kernel(tmp_path, loop), tmp_path, "get_answer_http")
        for target in (SELDON, AIGES):
            svc.current = dataclasses.replace(svc.current, target=target)
            assert svc.get_answered_by() == "processor"

    run(test)


def test_a_blue_green_entry_runs_a_model_when_either_side_does(tmp_path):
    def test(loop):
        kernel = Kernel(tmp_path, loop)
        model, tensor, unknown = (service(kernel, tmp_path, f"side{i}") for i in range(3))
        model.record_signature(model.current, None, None)
        tensor.record_signature(tensor.current, SIGNATURE, "tf")
        assert _get_answered_by([tensor, model]) == "model"
        assert _get_answered_by([tensor, tensor]) == "kernel"
        assert _get_answered_by([tensor, unknown]) is None

    run(test)
