"""Upload handlers that hash each uploaded file while it streams in.

Django's two default handlers (memory for small files, a temporary file otherwise), each also
computing the SHA-256 of exactly the bytes it keeps and setting ``uploaded_file.sha256``. Code
that needs an upload's digest (model artifacts) reads that attribute instead of reading the file
again while the request waits.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler


class HashingMemoryFileUploadHandler(MemoryFileUploadHandler):
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        self._sha256 = hashlib.sha256()  # before super(): it raises StopFutureHandlers when it keeps the file
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if self.activated:
            self._sha256.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int) -> UploadedFile | None:
        uploaded = super().file_complete(file_size)
        if uploaded is not None:
            uploaded.sha256 = self._sha256.hexdigest()  # type: ignore[attr-defined]
        return uploaded


class HashingTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        self._sha256 = hashlib.sha256()
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self._sha256.update(raw_data)
        super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int) -> UploadedFile:
        uploaded = super().file_complete(file_size)
        uploaded.sha256 = self._sha256.hexdigest()  # type: ignore[attr-defined]
        return uploaded
