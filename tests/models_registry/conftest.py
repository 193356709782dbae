from __future__ import annotations

from tests.support.triton import triton, triton_minilm

__all__ = ["triton", "triton_minilm"]
