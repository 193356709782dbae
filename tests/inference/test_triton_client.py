"""TritonAdmin against a real tritonserver: load/unload, statistics, metrics, failure reporting."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import tritonclient.grpc as tg

from inference.triton.builtin import MINILM_NAME
from inference.triton.client import (
    ModelStatistics,
    TritonAdmin,
    TritonModelError,
    TritonUnavailable,
    fetch_metrics,
    metric_value,
    parse_triton_url,
)
from inference.triton.local import model_error_text
from inference.triton.repository import config_json
from tests.support.net import free_port
from tests.support.triton import ECHO, FAILING, SharedTriton, echo_spec

pytestmark = pytest.mark.slow


def _infer_grpc(triton: SharedTriton, model: str, texts: list[str], output_dim: int) -> np.ndarray:
    client = tg.InferenceServerClient(parse_triton_url(triton.server.grpc_url)[1])
    x = np.array([[t.encode()] for t in texts], dtype=object)
    inp = tg.InferInput("text", list(x.shape), "BYTES")
    inp.set_data_from_numpy(x)
    out = client.infer(model, [inp]).as_numpy("embedding")
    assert out.shape == (len(texts), output_dim)
    return out


def _stats_when(admin: TritonAdmin, name: str, inference_count: int) -> ModelStatistics:
    """Triton records statistics just after it sends the response, so poll briefly."""
    deadline = time.monotonic() + 10
    stats = admin.model_statistics(name)
    while stats.inference_count < inference_count and time.monotonic() < deadline:
        time.sleep(0.05)
        stats = admin.model_statistics(name)
    return stats


def _state(admin: TritonAdmin, name: str) -> str:
    return {m.name: m.state for m in admin.repository_index()}[name]


def test_parse_triton_url() -> None:
    assert parse_triton_url("grpc://localhost:8001") == ("grpc", "localhost:8001")
    assert parse_triton_url("http://10.0.0.1:8000") == ("http", "10.0.0.1:8000")
    for bad in ("localhost:8001", "https://x:1", "grpc://host"):
        with pytest.raises(ValueError, match="http://host:port"):
            parse_triton_url(bad)


def test_repository_index_lists_every_model_dir(triton: SharedTriton) -> None:
    for admin in (triton.http, triton.grpc):
        names = {m.name for m in admin.repository_index()}
        assert {MINILM_NAME, ECHO, FAILING} <= names


def test_minilm_loads_serves_and_counts(triton_minilm: SharedTriton) -> None:
    t = triton_minilm
    assert t.http.model_ready(MINILM_NAME) and t.grpc.model_ready(MINILM_NAME, "1")
    assert _state(t.grpc, MINILM_NAME) == "READY"
    cfg = t.http.model_config(MINILM_NAME)
    assert cfg["max_batch_size"] == 64 and cfg["parameters"]["threads"]["string_value"] == "1"
    before = t.grpc.model_statistics(MINILM_NAME)
    emb = _infer_grpc(t, MINILM_NAME, ["first text", "second text", "third"], 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    for admin in (t.http, t.grpc):
        after = _stats_when(admin, MINILM_NAME, before.inference_count + 3)
        assert after.inference_count == before.inference_count + 3
        assert after.success_count == before.success_count + 1
        assert after.fail_count == before.fail_count
        assert after.avg_compute_us > 0
    metrics = fetch_metrics(t.server.metrics_url)
    assert metric_value(metrics, "nv_inference_count", model=MINILM_NAME) >= 3
    assert metric_value(metrics, "nv_inference_request_success", model=MINILM_NAME) >= 1
    assert "nv_inference_request_duration_us" in metrics


def test_echo_load_with_override_then_unload(triton: SharedTriton) -> None:
    admin = triton.http
    admin.load_model(ECHO, config_json=config_json(echo_spec(max_batch_size=4)))
    try:
        assert admin.model_ready(ECHO)
        assert admin.model_config(ECHO)["max_batch_size"] == 4  # the override, not config.pbtxt's 8
        out = _infer_grpc(triton, ECHO, ["a", "abc"], 4)
        assert out[1][0] > out[0][0]  # rows come back in order
        assert _stats_when(admin, ECHO, 2).inference_count == 2
    finally:
        admin.unload_model(ECHO, wait_s=10)
    assert not admin.model_ready(ECHO)
    deadline = time.monotonic() + 15
    while _state(admin, ECHO) != "UNAVAILABLE" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _state(admin, ECHO) == "UNAVAILABLE"


def test_malformed_override_json_fails_locally(triton: SharedTriton) -> None:
    with pytest.raises(json.JSONDecodeError):
        triton.grpc.load_model(ECHO, config_json="{not json")


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_failing_initialize_reports_tritons_reason_and_server_survives(triton_minilm: SharedTriton, proto: str) -> None:
    admin = getattr(triton_minilm, proto)
    with pytest.raises(TritonModelError) as exc:
        admin.load_model(FAILING)
    assert "deliberate failure in initialize" in exc.value.reason
    assert FAILING in exc.value.reason
    assert not admin.model_ready(FAILING)
    assert admin.server_ready()
    index = {m.name: m for m in admin.repository_index()}
    assert index[FAILING].state == "UNAVAILABLE"
    assert "deliberate failure" in index[FAILING].reason
    _infer_grpc(triton_minilm, MINILM_NAME, ["still serving"], 384)


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_missing_model_dir_is_a_clear_model_error(triton: SharedTriton, proto: str) -> None:
    admin = getattr(triton, proto)
    with pytest.raises(TritonModelError) as exc:
        admin.load_model("no_such_model")
    assert "failed to load 'no_such_model'" in exc.value.reason
    assert "failed to poll from model repository" in exc.value.reason
    with pytest.raises(TritonModelError):
        admin.model_statistics("no_such_model")


@pytest.mark.parametrize("scheme", ["http", "grpc"])
def test_unreachable_server_is_unavailable(scheme: str) -> None:
    admin = TritonAdmin(f"{scheme}://127.0.0.1:{free_port()}", timeout_s=3)
    assert admin.server_ready() is False
    with pytest.raises(TritonUnavailable):
        admin.load_model(MINILM_NAME)
    with pytest.raises(TritonUnavailable):
        admin.repository_index()
    with pytest.raises(TritonUnavailable):
        fetch_metrics(f"http://127.0.0.1:{free_port()}/metrics", timeout_s=3)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            "load failed for model 'm': version 1 is at UNAVAILABLE state: Internal: RuntimeError: boom\n\n"
            "At:\n  /srv/portal/var/triton-repo/acme.m/1/model.py(6): initialize\n;\n",
            "load failed for model 'm': version 1 is at UNAVAILABLE state: Internal: RuntimeError: boom",
        ),
        ("ModuleNotFoundError: no foo in /srv/portal/var/media/tenant-2/x.py", "ModuleNotFoundError: no foo in x.py"),
        ("x" * 5000, "x" * 1000),
    ],
)
def test_model_error_text_keeps_the_models_message_only(raw, shown):
    assert model_error_text(raw) == shown
