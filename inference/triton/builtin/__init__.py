"""Built-in models the portal ships for Triton (python backend).

``minilm``: all-MiniLM-L6-v2 embeddings, BYTES ``text`` [1] -> FP32 ``embedding`` [384].
``e5s``: multilingual-e5-small (the embedded default), same tensors; texts carry e5's prefixes.
"""

from __future__ import annotations

from pathlib import Path

from inference.embedding import TRITON_E5_NAME
from inference.triton.repository import TensorSpec, TritonModelSpec, write_model_entry

__all__ = [
    "E5_FILES",
    "E5_NAME",
    "MINILM_DIM",
    "MINILM_MODEL_PY",
    "MINILM_NAME",
    "e5_spec",
    "install_e5",
    "install_minilm",
    "minilm_spec",
]

MINILM_NAME = "minilm"
MINILM_DIM = 384
MINILM_MODEL_PY = Path(__file__).resolve().parent / "minilm" / "model.py"


def minilm_spec(
    dynamic_batching: bool = True,
    *,
    name: str = MINILM_NAME,
    max_batch_size: int = 64,
    max_queue_delay_us: int = 2000,
    instance_count: int = 1,
    threads: int = 1,
) -> TritonModelSpec:
    """The MiniLM spec. Defaults: batch up to 64, 2 ms queue delay, 1 CPU instance x 1 torch thread.

    Dynamic batching is on by default: measured +70% throughput for this torch model at 16
    clients on 2 cores (shared/notes/triton-local.md §0.5).
    """
    return _text_embedding_spec(
        name,
        max_batch_size=max_batch_size,
        dynamic_batching=dynamic_batching,
        max_queue_delay_us=max_queue_delay_us if dynamic_batching else 0,
        instance_count=instance_count,
        parameters={"threads": str(threads)},
    )


def _text_embedding_spec(
    name: str,
    *,
    max_batch_size: int,
    dynamic_batching: bool,
    max_queue_delay_us: int,
    instance_count: int,
    parameters: dict[str, str],
) -> TritonModelSpec:
    """The tensors every built-in text embedder shares: BYTES ``text`` [1] -> FP32 ``embedding`` [384]."""
    return TritonModelSpec(
        name=name,
        backend="python",
        max_batch_size=max_batch_size,
        inputs=[TensorSpec("text", "BYTES", (1,))],
        outputs=[TensorSpec("embedding", "FP32", (MINILM_DIM,))],
        dynamic_batching=dynamic_batching,
        max_queue_delay_us=max_queue_delay_us,
        instance_kind="KIND_CPU",
        instance_count=instance_count,
        parameters=parameters,
    )


def install_minilm(
    repo_dir: Path,
    version: int = 1,
    dynamic_batching: bool = True,
    *,
    name: str = MINILM_NAME,
    instance_count: int = 1,
    threads: int = 1,
) -> Path:
    """Write the MiniLM entry (config.pbtxt + ``<version>/model.py``) into ``repo_dir``; return its dir."""
    spec = minilm_spec(dynamic_batching, name=name, instance_count=instance_count, threads=threads)
    return write_model_entry(Path(repo_dir), spec, version, {"model.py": MINILM_MODEL_PY})


E5_NAME = TRITON_E5_NAME
E5_MODEL_PY = Path(__file__).resolve().parent / "e5" / "model.py"
E5_LIB_PY = Path(__file__).resolve().parents[2] / "e5.py"  # inference/e5.py, copied beside model.py
# The files of the e5 entry's version directory, by the name each has there.
E5_FILES = {"model.py": E5_MODEL_PY, "e5.py": E5_LIB_PY}


def e5_spec(
    *,
    name: str = E5_NAME,
    max_batch_size: int = 64,
    max_queue_delay_us: int = 2000,
    instance_count: int = 1,
    threads: int = 1,
    precision: str = "auto",
) -> TritonModelSpec:
    """The multilingual-e5-small spec: the MiniLM tensors (BYTES ``text`` -> FP32 ``embedding``
    [384]), dynamic batching, CPU instances; ``precision`` as for the in-process embedder."""
    return _text_embedding_spec(
        name,
        max_batch_size=max_batch_size,
        dynamic_batching=True,
        max_queue_delay_us=max_queue_delay_us,
        instance_count=instance_count,
        parameters={"threads": str(threads), "precision": precision},
    )


def install_e5(
    repo_dir: Path, version: int = 1, *, name: str = E5_NAME, instance_count: int = 1, threads: int = 1
) -> Path:
    """Write the e5 entry (config.pbtxt + ``<version>/model.py`` + ``e5.py``) into ``repo_dir``."""
    spec = e5_spec(name=name, instance_count=instance_count, threads=threads)
    return write_model_entry(Path(repo_dir), spec, version, E5_FILES)
