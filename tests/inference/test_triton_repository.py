"""Model-repository rendering: protobuf round trip, validation messages, atomic file layout."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from inference.triton.builtin import MINILM_MODEL_PY, install_minilm, minilm_spec
from inference.triton.repository import (
    InvalidModelConfig,
    TensorSpec,
    TritonModelSpec,
    VersionPolicy,
    build_config,
    config_json,
    normalize_data_type,
    parse_config,
    render_config,
    validate_spec,
    write_model_entry,
)


def spec(**over: object) -> TritonModelSpec:
    base = TritonModelSpec(
        name="m1",
        backend="python",
        max_batch_size=16,
        inputs=[TensorSpec("text", "BYTES", (1,))],
        outputs=[TensorSpec("embedding", "FP32", (384,))],
        dynamic_batching=True,
        preferred_batch_sizes=(4, 8),
        max_queue_delay_us=1500,
        instance_kind="KIND_CPU",
        instance_count=2,
        version_policy=VersionPolicy.specific(1, 3),
        parameters={"threads": "2", "impl": "st"},
    )
    return dataclasses.replace(base, **over)  # type: ignore[arg-type]


def test_render_parse_round_trip_keeps_every_field() -> None:
    text = render_config(spec())
    cfg = parse_config(text)
    assert cfg == build_config(spec())
    assert cfg.name == "m1" and cfg.backend == "python" and cfg.max_batch_size == 16
    assert cfg.input[0].data_type == mc.TYPE_STRING and list(cfg.input[0].dims) == [1]
    assert cfg.output[0].data_type == mc.TYPE_FP32 and list(cfg.output[0].dims) == [384]
    assert list(cfg.dynamic_batching.preferred_batch_size) == [4, 8]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 1500
    assert cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU
    assert cfg.instance_group[0].count == 2
    assert list(cfg.version_policy.specific.versions) == [1, 3]
    assert cfg.parameters["threads"].string_value == "2"
    assert "data_type: TYPE_STRING" in text


def test_dynamic_batching_off_omits_the_block_and_latest_policy() -> None:
    cfg = parse_config(
        render_config(spec(dynamic_batching=False, preferred_batch_sizes=(), version_policy=VersionPolicy.latest(2)))
    )
    assert not cfg.HasField("dynamic_batching")
    assert cfg.version_policy.latest.num_versions == 2
    on = parse_config(render_config(spec(preferred_batch_sizes=(), max_queue_delay_us=0)))
    assert on.HasField("dynamic_batching")  # present-but-empty still means "on"
    every = parse_config(render_config(spec(version_policy=VersionPolicy.all())))
    assert every.version_policy.HasField("all")


def test_config_json_is_the_same_config() -> None:
    data = json.loads(config_json(spec()))
    assert data["name"] == "m1"
    assert data["input"][0]["data_type"] == "TYPE_STRING"
    assert data["dynamic_batching"]["preferred_batch_size"] == [4, 8]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("TYPE_FP32", "TYPE_FP32"),
        ("FP32", "TYPE_FP32"),
        ("fp16", "TYPE_FP16"),
        ("BYTES", "TYPE_STRING"),
        ("TYPE_STRING", "TYPE_STRING"),
        ("string", "TYPE_STRING"),
        ("INT64", "TYPE_INT64"),
        ("BF16", "TYPE_BF16"),
    ],
)
def test_data_type_normalisation(raw: str, expected: str) -> None:
    assert normalize_data_type(raw) == expected


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"name": ""}, "model name"),
        ({"name": "../evil"}, "model name"),
        ({"backend": "tensorflow"}, "unknown backend 'tensorflow'"),
        ({"max_batch_size": -1}, "max_batch_size must be >= 0"),
        ({"inputs": []}, "at least one input"),
        ({"outputs": []}, "at least one output"),
        ({"inputs": [TensorSpec("", "FP32", (1,))]}, "empty name"),
        ({"inputs": [TensorSpec("a", "FP32", (1,)), TensorSpec("a", "FP32", (1,))]}, "'a' is used twice"),
        ({"inputs": [TensorSpec("embedding", "FP32", (1,))]}, "both an input and an output"),
        ({"inputs": [TensorSpec("a", "FLOAT", (1,))]}, "unknown data type 'FLOAT'"),
        ({"inputs": [TensorSpec("a", "FP32", (0,))]}, "dim 0 is invalid"),
        ({"outputs": [TensorSpec("o", "FP32", (4, -2))]}, "dim -2 is invalid"),
        ({"inputs": [TensorSpec("a", "FP32", ())]}, "dims must not be empty"),
        ({"max_batch_size": 0, "preferred_batch_sizes": ()}, "dynamic batching needs max_batch_size > 0"),
        ({"preferred_batch_sizes": (4, 32)}, "preferred batch size 32 is outside 1..max_batch_size (16)"),
        ({"dynamic_batching": False}, "only apply with dynamic batching"),
        ({"max_queue_delay_us": -5}, "max_queue_delay_us must be >= 0"),
        ({"instance_kind": "KIND_TPU"}, "instance_kind must be KIND_CPU or KIND_GPU"),
        ({"instance_count": 0}, "instance_count must be >= 1"),
        ({"version_policy": VersionPolicy.latest(0)}, "latest needs N >= 1"),
        ({"version_policy": VersionPolicy.specific()}, "'specific' needs one or more versions"),
        ({"parameters": {"": "x"}}, "empty key"),
    ],
)
def test_bad_specs_raise_with_a_human_message(over: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidModelConfig) as exc:
        validate_spec(spec(**over))
    assert message in exc.value.message
    with pytest.raises(InvalidModelConfig):
        render_config(spec(**over))


def test_parse_config_rejects_garbage() -> None:
    with pytest.raises(InvalidModelConfig, match="does not parse"):
        parse_config("name: 'x' max_batch_size: banana")


def test_write_model_entry_layout(tmp_path: Path) -> None:
    src = tmp_path / "weights.bin"
    src.write_bytes(b"\x00\x01")
    model_dir = write_model_entry(
        tmp_path / "repo", spec(), 3, {"model.py": b"print('hi')\n", "assets/weights.bin": src}
    )
    assert model_dir == tmp_path / "repo" / "m1"
    assert parse_config((model_dir / "config.pbtxt").read_text()) == build_config(spec())
    assert (model_dir / "3" / "model.py").read_bytes() == b"print('hi')\n"
    assert (model_dir / "3" / "assets" / "weights.bin").read_bytes() == b"\x00\x01"
    # No staging leftovers that Triton would list as models.
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["m1"]


def test_write_model_entry_adds_and_replaces_versions(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_model_entry(repo, spec(), 1, {"model.py": b"v1"})
    write_model_entry(repo, spec(), 2, {"model.py": b"v2"})
    write_model_entry(repo, spec(instance_count=1), 1, {"model.py": b"v1-new", "extra.txt": b"x"})
    assert (repo / "m1" / "1" / "model.py").read_bytes() == b"v1-new"
    assert (repo / "m1" / "2" / "model.py").read_bytes() == b"v2"
    assert parse_config((repo / "m1" / "config.pbtxt").read_text()).instance_group[0].count == 1
    assert sorted(p.name for p in repo.iterdir()) == ["m1"]


@pytest.mark.parametrize("bad", ["../x.py", "/etc/passwd", "a/../../b", "", "a\\..\\b", "./model.py", "a//b"])
def test_write_model_entry_refuses_path_traversal(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidModelConfig, match="plain relative path"):
        write_model_entry(tmp_path / "repo", spec(), 1, {bad: b"x"})
    assert not (tmp_path / "repo" / "m1").exists()
    assert not (tmp_path / "x.py").exists()


def test_write_model_entry_refuses_invalid_spec_before_touching_disk(tmp_path: Path) -> None:
    with pytest.raises(InvalidModelConfig):
        write_model_entry(tmp_path / "repo", spec(instance_count=0), 1, {"model.py": b"x"})
    assert not (tmp_path / "repo" / "m1").exists()
    with pytest.raises(InvalidModelConfig, match="version must be >= 1"):
        write_model_entry(tmp_path / "repo", spec(), 0, {"model.py": b"x"})


def test_install_minilm(tmp_path: Path) -> None:
    model_dir = install_minilm(tmp_path, version=2, dynamic_batching=False)
    cfg = parse_config((model_dir / "config.pbtxt").read_text())
    assert cfg == build_config(minilm_spec(False))
    assert not cfg.HasField("dynamic_batching")
    assert (model_dir / "2" / "model.py").read_bytes() == MINILM_MODEL_PY.read_bytes()
    assert cfg.parameters["threads"].string_value == "1"
