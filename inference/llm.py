"""Client for a chat LLM served by Triton as a *decoupled* python-backend model (token streaming).

Contract of the served model (``inference/triton/builtin/smollm2`` implements it):
- inputs: ``messages`` BYTES [1] (a JSON list of ``{"role", "content"}``), ``max_tokens`` INT32 [1];
- outputs, one response per decoded piece: ``text`` BYTES [1] (the new text only),
  ``prompt_tokens`` / ``completion_tokens`` INT32 [1] (running totals); then a final empty
  response (``triton_final_response``).

Decoupled models answer only over gRPC streams, so the URL must be ``grpc://host:port``. Every
call opens its own client and stream (a tritonclient gRPC client holds one stream at a time), so
the generator is safe to share between threads. Nothing here reads Django settings.

Errors: :class:`LlmUnavailable` (server down, model not loaded, timeout: the caller falls back to
the extractive answer) and :class:`LlmError` (the model failed on this input).
"""

from __future__ import annotations

import json
import queue
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.triton.client import parse_triton_url

__all__ = ["LlmDelta", "LlmError", "LlmUnavailable", "TritonChatGenerator"]

_NOT_SERVING = ("is not found", "unknown model", "is not ready", "not loaded", "unavailable", "failed to connect")


class LlmError(Exception):
    """The model answered with an error for this request."""


class LlmUnavailable(LlmError):
    """The LLM cannot serve right now (transient); answer without it."""


@dataclass(frozen=True, slots=True)
class LlmDelta:
    """A piece of generated text; the token counts are running totals."""

    text: str
    prompt_tokens: int
    completion_tokens: int


class TritonChatGenerator:
    """Streams chat completions from a decoupled Triton model (see module docstring)."""

    def __init__(self, url: str, model: str, *, version: str = "", timeout_s: float = 60.0) -> None:
        protocol, address = parse_triton_url(url)
        if protocol != "grpc":
            raise ValueError(f"the LLM needs a grpc:// Triton URL (decoupled streaming), got {url!r}")
        if not model:
            raise ValueError("model name is required")
        self.address = address
        self.model = model
        self.version = version
        self.timeout_s = timeout_s

    @property
    def model_id(self) -> str:
        return f"triton:{self.model}" + (f"/{self.version}" if self.version else "")

    def stream(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 64) -> Iterator[LlmDelta]:
        """Yield text deltas as the model produces them; raises LlmUnavailable/LlmError.

        The stream is closed when the generator is closed or exhausted, also on early exit.
        """
        import tritonclient.grpc as tg
        from tritonclient.utils import InferenceServerException

        if max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        payload = json.dumps(list(messages), ensure_ascii=False).encode("utf-8")
        inputs = [tg.InferInput("messages", [1], "BYTES"), tg.InferInput("max_tokens", [1], "INT32")]
        inputs[0].set_data_from_numpy(np.array([payload], dtype=np.object_))
        inputs[1].set_data_from_numpy(np.array([max_tokens], dtype=np.int32))
        results: queue.Queue[tuple[Any, Any]] = queue.Queue()

        try:
            client = tg.InferenceServerClient(self.address)
        except InferenceServerException as exc:
            raise LlmUnavailable(f"Triton at {self.address}: {exc}") from exc
        try:
            try:
                client.start_stream(callback=lambda result, error: results.put((result, error)))
                client.async_stream_infer(
                    self.model,
                    inputs,
                    model_version=self.version,
                    request_id=uuid.uuid4().hex,
                    enable_empty_final_response=True,
                )
            except InferenceServerException as exc:
                raise self._classify(exc) from exc
            deadline = time.monotonic() + self.timeout_s
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LlmUnavailable(f"no answer from {self.model} within {self.timeout_s:.0f} s")
                try:
                    result, error = results.get(timeout=left)
                except queue.Empty:
                    continue
                if error is not None:
                    raise self._classify(error)
                response = result.get_response()
                final = response.parameters.get("triton_final_response")
                if response.outputs:
                    text = result.as_numpy("text")
                    piece = text.reshape(-1)[0] if text is not None and text.size else b""
                    yield LlmDelta(
                        text=piece.decode("utf-8", "replace") if isinstance(piece, bytes) else str(piece),
                        prompt_tokens=int(result.as_numpy("prompt_tokens").reshape(-1)[0]),
                        completion_tokens=int(result.as_numpy("completion_tokens").reshape(-1)[0]),
                    )
                if final is not None and final.bool_param:
                    return
        finally:
            try:
                client.stop_stream(cancel_requests=True)
            finally:
                client.close()

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 64) -> tuple[str, int, int]:
        """The whole completion: ``(text, prompt_tokens, completion_tokens)``."""
        parts: list[str] = []
        prompt = completion = 0
        for delta in self.stream(messages, max_tokens=max_tokens):
            parts.append(delta.text)
            prompt, completion = delta.prompt_tokens, delta.completion_tokens
        return "".join(parts), prompt, completion

    @staticmethod
    def _classify(exc: BaseException) -> LlmError:
        msg = str(exc)
        low = msg.lower()
        if any(s in low for s in _NOT_SERVING) or "deadline" in low or "unavailable" in low:
            return LlmUnavailable(msg)
        return LlmError(msg)
