"""Local Triton Inference Server: process control, model repository rendering, admin client.

Nothing here reads Django settings; callers pass configuration explicitly.
"""
