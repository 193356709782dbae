"""Triton python-backend model (decoupled): SmolLM2-135M-Instruct chat completions, token streaming.

Contract (must match ``inference.triton.builtin.smollm2.smollm2_spec`` and ``inference.llm``):
- input ``messages``: BYTES [1], a UTF-8 JSON list of ``{"role": ..., "content": ...}``;
- input ``max_tokens``: INT32 [1], new-token budget (clamped to 1..512);
- outputs per response: ``text`` BYTES [1] (only the new text), ``prompt_tokens`` and
  ``completion_tokens`` INT32 [1] (running totals); then an empty response flagged final.
- config parameters: ``threads`` (torch intra-op threads), ``gguf_dir`` + ``gguf_file``.

Greedy decoding with the KV cache, so the same messages give the same text. Pieces are sent at
UTF-8-safe boundaries (a partly decoded character is held back until complete).

This file runs inside the stub's interpreter (the server venv), not in the portal process.
"""

from __future__ import annotations

import contextlib
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import triton_python_backend_utils as pb_utils

MAX_TOKENS_CAP = 512


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        import torch

        torch.set_num_threads(int(params.get("threads") or 1))
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf_dir, gguf_file = params["gguf_dir"], params["gguf_file"]
        self.tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
        self.model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32)
        self.model.eval()
        self.torch = torch
        eos = self.model.generation_config.eos_token_id
        self.eos = set(eos if isinstance(eos, list) else [eos]) | {self.tok.eos_token_id}

    def _respond(self, sender, text: str, prompt_tokens: int, completion_tokens: int) -> None:  # type: ignore[no-untyped-def]
        sender.send(
            pb_utils.InferenceResponse(
                output_tensors=[
                    pb_utils.Tensor("text", np.array([text.encode("utf-8")], dtype=np.object_)),
                    pb_utils.Tensor("prompt_tokens", np.array([prompt_tokens], dtype=np.int32)),
                    pb_utils.Tensor("completion_tokens", np.array([completion_tokens], dtype=np.int32)),
                ]
            )
        )

    def _generate(self, request) -> None:  # type: ignore[no-untyped-def]
        sender = request.get_response_sender()
        try:
            raw = pb_utils.get_input_tensor_by_name(request, "messages").as_numpy().reshape(-1)[0]
            messages = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
            mt = pb_utils.get_input_tensor_by_name(request, "max_tokens")
            budget = int(mt.as_numpy().reshape(-1)[0]) if mt is not None else 64
            budget = max(1, min(budget, MAX_TOKENS_CAP))
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                raise ValueError("messages must be a JSON list of objects")
        except Exception as e:
            sender.send(
                pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(f"bad input: {e}")),
                flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL,
            )
            return
        torch = self.torch
        ids = self.tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)[
            "input_ids"
        ]
        n_prompt = int(ids.shape[1])
        generated: list[int] = []
        sent = ""
        past = None
        step_input = ids
        with torch.inference_mode():
            for _ in range(budget):
                out = self.model(input_ids=step_input, past_key_values=past, use_cache=True)
                past = out.past_key_values
                next_id = int(out.logits[0, -1].argmax())
                if next_id in self.eos:
                    break
                generated.append(next_id)
                step_input = torch.tensor([[next_id]])
                text = self.tok.decode(generated, skip_special_tokens=True)
                if text.endswith("\ufffd"):
                    continue  # half a multi-byte character: wait for the rest
                if len(text) > len(sent) and text.startswith(sent):
                    self._respond(sender, text[len(sent) :], n_prompt, len(generated))
                    sent = text
        final = self.tok.decode(generated, skip_special_tokens=True)
        if len(final) > len(sent) and final.startswith(sent):
            self._respond(sender, final[len(sent) :], n_prompt, len(generated))
        sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)

    def execute(self, requests: list) -> None:  # type: ignore[type-arg]
        for request in requests:
            self._generate(request)
        return None

    def finalize(self) -> None:
        self.model = None
