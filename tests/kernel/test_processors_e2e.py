"""Model processors served by the real kernel and called by the official client over HTTP."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from test_processors_onnx import B, W, affine_model  # noqa: E402  (same folder, on sys.path)

from easlab.errors import PredictException  # noqa: E402
from easlab.wire.tf import TFRequest  # noqa: E402

PMML = Path(__file__).parent / "data" / "heart_lr.pmml"
TOKEN = "processor-e2e-token"


class Affine(torch.nn.Module):
    def forward(self, x: torch.Tensor):
        return x * 3 - 1


@pytest.fixture(scope="module")
def onnx_service(kernel, tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e_onnx")
    (folder / "affine.onnx").write_bytes(affine_model())
    spec = {
        "name": "proc_e2e_onnx",
        "processor": "onnx",
        "model_path": str(folder),
        "token": TOKEN,
        "metadata": {
            "instance": 1,
            "rpc": {"batching": True, "max_batch_size": 8, "max_batch_timeout": 20},
        },
    }
    svc = kernel.create(spec)
    assert svc.status == "Running", svc.desc.get("message")
    yield svc
    kernel.delete(svc.name)


def test_onnx_service_signature_and_official_tf_request(onnx_service, run_official):
    assert onnx_service.signature()["inputs"] == [
        {"name": "x", "shape": [-1, 4], "type": "DT_FLOAT"}
    ]
    out = json.loads(
        run_official(
            f"""
            import json
            from eas_prediction import PredictClient, TFRequest
            client = PredictClient({onnx_service.endpoint!r}, {onnx_service.name!r})
            client.set_token({TOKEN!r})
            client.init()
            req = TFRequest("serving_default")
            req.add_feed("x", [1, 4], TFRequest.DT_FLOAT, [1.0, 2.0, 3.0, 4.0])
            req.add_fetch("y")
            resp = client.predict(req)
            bad = TFRequest("serving_default")
            bad.add_feed("x", [1, 3], TFRequest.DT_FLOAT, [1.0, 2.0, 3.0])
            try:
                client.predict(bad)
                error = None
            except Exception as exc:
                error = str(exc)
            print(json.dumps([list(resp.get_values("y")), error]))
            """
        )
    )
    x = np.array([[1, 2, 3, 4]], np.float32)
    np.testing.assert_allclose(out[0], (x @ W + B).ravel())
    assert "400" in out[1] and "input 'x': expected shape [-1, 4] DT_FLOAT, got [1, 3]" in out[1]


def test_concurrent_requests_each_get_their_own_rows(onnx_service):
    client = onnx_service.client()

    def call(i: int) -> bool:
        x = np.full((i % 3 + 1, 4), i, np.float32)
        resp = client.predict(TFRequest.from_numpy("serving_default", {"x": x}))
        return bool(np.allclose(resp["y"], x @ W + B))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(call, range(24)))


def test_pmml_and_torch_services_with_the_official_client(kernel, tmp_path, run_official):
    shutil.copy(PMML, tmp_path / "heart.pmml")
    torch_dir = tmp_path / "torch"
    torch_dir.mkdir()
    with pytest.warns(DeprecationWarning):
        torch.jit.save(torch.jit.script(Affine()), str(torch_dir / "model.pt"))
    pmml = kernel.create(
        {
            "name": "proc_e2e_pmml",
            "processor": "pmml",
            "model_path": str(tmp_path / "heart.pmml"),
            "token": TOKEN,
            "metadata": {"instance": 1},
        }
    )
    pt = kernel.create(
        {
            "name": "proc_e2e_torch",
            "processor": "pytorch_cpu_1.6",
            "model_path": str(torch_dir),
            "token": TOKEN,
            "metadata": {"instance": 1},
        }
    )
    try:
        assert (pmml.status, pt.status) == ("Running", "Running"), (pmml.desc, pt.desc)
        out = json.loads(
            run_official(
                f"""
                import json
                from eas_prediction import PredictClient, StringRequest, TorchRequest
                def client(name):
                    c = PredictClient({pmml.endpoint!r}, name)
                    c.set_token({TOKEN!r})
                    c.init()
                    return c
                text = client("proc_e2e_pmml").predict(
                    StringRequest('[{{"sex": 1, "cp": 0, "fbs": true, "thal": "fixed"}}]'))
                req = TorchRequest(True)  # snappy-compressed body (SPEC §1)
                req.add_feed(0, [2, 2], TorchRequest.DT_FLOAT, [1.0, 2.0, 3.0, 4.0])
                resp = client("proc_e2e_torch").predict(req)
                print(json.dumps([text.response_data.decode(), list(resp.get_values(0))]))
                """
            )
        )
        rows = json.loads(out[0])
        assert rows[0]["p_1"] == pytest.approx(1 / (1 + np.exp(-(-0.5 + 1.2 + 0.6 + 0.9))))
        assert out[1] == [2.0, 5.0, 8.0, 11.0]
        with pytest.raises(PredictException) as info:
            pmml.client().predict(b'[{"sexx": 1}]')
        assert info.value.code == 400 and "unknown field 'sexx'" in info.value.message
    finally:
        kernel.delete(pmml.name)
        kernel.delete(pt.name)


def test_batching_a_torchscript_model_cannot_join_is_a_warning_of_the_service(
    kernel, tmp_path_factory
):
    """rpc.batching on a TorchScript model whose inputs are not declared: the kernel
    gathered batches (its metrics counted them) while the model ran every request
    alone, and nothing said so. The service's warnings (desc, the create's answer)
    and its log now say why, once for its two instances, and what to declare."""
    folder = tmp_path_factory.mktemp("e2e_torch_undeclared")
    torch.jit.save(torch.jit.script(Affine()), str(folder / "model.pt"))
    spec = {
        "name": "proc_e2e_torch_note",
        "processor": "pytorch_cpu_2.13",
        "model_path": str(folder),
        "token": TOKEN,
        "metadata": {"instance": 2, "rpc": {"batching": True}},
    }
    svc = kernel.create(spec)
    try:
        assert svc.status == "Running", svc.desc.get("message")
        (warning,) = [w for w in svc.desc["warnings"] if w.startswith("rpc.batching")]
        assert "never joined: input '0' has no declared shape" in warning
        assert "declare the inputs in model_config with -1 first" in warning
        said = [line for line in kernel.client.logs(svc.name, n=200) if "never joined" in line]
        assert len(said) == 1 and "[kernel] proc_e2e_torch_note-" in said[0]
    finally:
        kernel.delete(svc.name)
