"""Fault: the disk fills up while an upload is being stored.

The media directory is a real 256 KiB tmpfs mounted for this test (root only; skipped with the
reason otherwise), so the kernel itself answers ENOSPC part-way through the write. A 400 KiB
upload through the HTTP API answers 507 with a sentence; no Document row, no audit event, and
not one byte of the partial file is left behind. A file that fits is then accepted (202): once
space is there, uploads work again with nothing to repair.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents.models import Document
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db

SIZE = "256k"


def _mount_tmpfs() -> Path | None:
    if os.geteuid() != 0:
        return None
    mount_point = Path(tempfile.mkdtemp(prefix="portal-faults-media-"))
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(mount_point)], capture_output=True
    )
    if out.returncode != 0:
        mount_point.rmdir()
        return None
    return mount_point


@pytest.fixture
def small_disk(settings) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    mount_point = _mount_tmpfs()
    if mount_point is None:
        pytest.skip("needs root and permission to mount a tmpfs (a real ENOSPC); not available here")
    settings.MEDIA_ROOT = str(mount_point)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)
        mount_point.rmdir()


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_upload_on_a_full_disk_is_507_and_leaves_nothing(small_disk, api, make_token, owner_a, tenant_a):
    client = api(make_token(owner_a, ["read", "write"]))
    big = ("A line of a long plain-text report about disk usage.\n" * 8000).encode()  # ~420 KiB
    resp = client.post("/api/v1/documents/", {"files": SimpleUploadedFile("report.txt", big)}, format="multipart")
    assert resp.status_code == 507, resp.content
    body = resp.json()
    assert body["code"] == "storage_full"
    assert "file storage is full" in body["detail"] and "Nothing was saved" in body["detail"]
    assert not Document.objects.for_tenant(tenant_a).exists()
    assert not AuditEvent.objects.for_tenant(tenant_a).filter(action="documents.document.created").exists()
    assert _files(small_disk) == []  # the partial file was removed

    small = b"A short note that fits on the disk.\n" * 20
    ok = client.post("/api/v1/documents/", {"files": SimpleUploadedFile("note.txt", small)}, format="multipart")
    assert ok.status_code == 202, ok.content
    [doc] = Document.objects.for_tenant(tenant_a)
    assert (small_disk / doc.file.name).read_bytes() == small
