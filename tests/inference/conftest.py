"""Fixtures of the inference-layer tests: a real tritonserver and a real Milvus Lite server."""

from __future__ import annotations

from tests.support.milvus import milvus_server
from tests.support.triton import triton, triton_e5, triton_minilm

__all__ = ["milvus_server", "triton", "triton_e5", "triton_minilm"]
