"""Where the shared data sets are: ``../shared`` next to the checkout (the main checkout's
layout), else /work/shared (a worktree one level deeper). Not product code."""

from __future__ import annotations

from pathlib import Path

_NEXT_TO_REPO = Path(__file__).resolve().parents[2] / "shared"


def shared_dir() -> Path:
    return _NEXT_TO_REPO if _NEXT_TO_REPO.exists() else Path("/work/shared")
