"""Where a model version's artifact may come from (docs/security.md, "Artifact locations").

A tenant's artifact is one of:

- an upload: stored by the portal in the media storage (hashed while it streams in);
- ``builtin:<name>``: a model shipped with the portal;
- a URI under one of the operator's ``MODEL_ARTIFACT_URI_PREFIXES`` (``{tenant}`` in a prefix
  becomes the tenant's slug). A ``file://`` prefix without ``{tenant}`` is shared by every tenant,
  so it serves platform-shared models only.

Registration checks a URI's text only (``artifact_uri_check``): nothing on the server is opened,
listed or hashed while a request waits. The serving task and the local deploy target resolve the
source (``artifact_source``), copy and hash it with limits (``inference.triton.local.artifact_staged``)
and verify it there. Media paths are never accepted as URIs: the media storage holds every
tenant's files.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from inference.triton.local import BUILTIN_ARTIFACTS, ArtifactError, builtin_artifact_source
from portal.exceptions import ApplicationError

__all__ = ["allowed_prefixes", "artifact_limits", "artifact_source", "artifact_uri_check"]


def allowed_prefixes(tenant_slug: str | None) -> list[str]:
    """The URI prefixes open to ``tenant_slug`` (None: platform-shared models), each ending in "/"."""
    out = []
    for raw in getattr(settings, "MODEL_ARTIFACT_URI_PREFIXES", []) or []:
        prefix = str(raw).strip()
        if not prefix:
            continue
        if "{tenant}" in prefix:
            if tenant_slug is None:
                continue
            prefix = prefix.replace("{tenant}", tenant_slug)
        elif prefix.startswith("file://") and tenant_slug is not None:
            continue  # one local directory for every tenant: platform models only
        out.append(prefix if prefix.endswith("/") else prefix + "/")
    return out


def _refuse(uri: str, why: str) -> ApplicationError:
    return ApplicationError(f"artifact_uri {uri!r} is refused: {why}.", extra={"code": "artifact_location"})


def artifact_uri_check(uri: str, *, tenant_slug: str | None) -> str:
    """The URI as stored, or ApplicationError (400) if it is not an allowed artifact location.

    Text only: the URI must be ``builtin:<known name>`` or start with an allowed prefix, and be a
    plain path below it (no ``.``/``..``/empty segments, no query, fragment, credentials or
    escapes), so the prefix check cannot be walked around.
    """
    uri = (uri or "").strip()
    if uri.startswith("builtin:"):
        if uri.removeprefix("builtin:") not in BUILTIN_ARTIFACTS:
            raise ApplicationError(
                f"Unknown built-in model '{uri}'. Known: "
                + ", ".join(f"builtin:{n}" for n in sorted(BUILTIN_ARTIFACTS))
            )
        return uri
    if uri.startswith("/"):
        uri = f"file://{uri}"
    if any(ord(c) < 33 or c in "\\%" for c in uri):
        raise _refuse(uri, "it contains spaces, control characters, backslashes or %-escapes")
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise _refuse(uri, "it is not a URI") from None
    if not parts.scheme or parts.query or parts.fragment or "?" in uri or "#" in uri or "@" in parts.netloc:
        raise _refuse(uri, "it needs a scheme and no query, fragment or credentials")
    if parts.scheme == "file" and parts.netloc:
        raise _refuse(uri, "file:// URIs name a path on this server (file:///path)")
    segments = parts.path.split("/")[1:]
    if not segments or any(s in ("", ".", "..") for s in segments):
        raise _refuse(uri, "its path must name a file or directory plainly (no '.', '..' or empty parts)")
    prefixes = allowed_prefixes(tenant_slug)
    if not any(uri.startswith(p) for p in prefixes):
        where = ", ".join(prefixes) if prefixes else "none are configured on this portal"
        raise _refuse(uri, f"upload the file, use builtin:<name>, or a URI under an allowed location ({where})")
    return uri


def artifact_limits() -> tuple[int, int]:
    """(max bytes, max files and directories) of one artifact copied for the local Triton."""
    return int(settings.MODEL_ARTIFACT_MAX_BYTES), int(settings.MODEL_ARTIFACT_MAX_FILES)


def _within(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def artifact_source(
    *, tenant_slug: str | None, upload_path: str = "", artifact_uri: str = ""
) -> Path | dict[str, Path]:
    """The local file or directory to copy for the local Triton (a built-in model of several files:
    its files by name), or ArtifactError (tenant-readable).

    Checked again here, not only at registration: revisions and versions may predate the current
    settings, and rows can be written without the registration service. A path that resolves
    (through symbolic links) outside its allowed location is refused.
    """
    if upload_path:
        media = Path(settings.MEDIA_ROOT).resolve()
        try:
            real = Path(upload_path).resolve(strict=True)
        except OSError:
            raise ArtifactError("the uploaded artifact file is missing from storage") from None
        if not _within(real, media):
            raise ArtifactError("the uploaded artifact is not in the portal's media storage")
        return real
    if artifact_uri.startswith("builtin:"):
        name = artifact_uri.removeprefix("builtin:")
        if name not in BUILTIN_ARTIFACTS:
            raise ArtifactError(f"unknown built-in model {artifact_uri!r} (known: {sorted(BUILTIN_ARTIFACTS)})")
        return builtin_artifact_source(name)
    try:
        uri = artifact_uri_check(artifact_uri, tenant_slug=tenant_slug)
    except ApplicationError as exc:
        raise ArtifactError(exc.message) from None
    parts = urlsplit(uri)
    if parts.scheme != "file":
        raise ArtifactError(
            f"artifact {uri!r} is not on this machine; the local Triton target serves uploads, builtin: models "
            "and file:// URIs under an allowed location"
        )
    root = next(Path(urlsplit(p).path) for p in allowed_prefixes(tenant_slug) if uri.startswith(p))
    try:
        real = Path(parts.path).resolve(strict=True)
    except OSError:
        raise ArtifactError(f"artifact {uri!r} does not exist") from None
    if not _within(real, root.resolve()):
        raise ArtifactError(f"artifact {uri!r} leads outside its allowed location (a symbolic link?)")
    return real
