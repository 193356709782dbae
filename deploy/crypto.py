"""Secrets at rest (cluster credentials): Fernet, with key rotation through MultiFernet.

Keys come from `settings.FIELD_ENCRYPTION_KEYS` (newest first: new values are encrypted with the
first key, any listed key decrypts). With no keys configured, one key is derived from SECRET_KEY
(SHA-256 -> urlsafe base64), so a laptop install works; production sets FIELD_ENCRYPTION_KEYS so
that rotating SECRET_KEY does not make stored credentials unreadable.

`rotate_token` re-encrypts a value under the newest key (MultiFernet.rotate).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["SecretDecryptError", "decrypt_secret", "encrypt_secret", "fernet_from_keys", "rotate_token"]


class SecretDecryptError(RuntimeError):
    """A stored secret cannot be decrypted with any configured key (keys rotated away?)."""


def derived_key(secret_key: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(f"portal-field-encryption:{secret_key}".encode()).digest())


def fernet_from_keys(keys: Sequence[str | bytes], *, secret_key: str) -> MultiFernet:
    """MultiFernet over `keys` (newest first), or over the SECRET_KEY-derived key when empty."""
    material = [k.encode() if isinstance(k, str) else k for k in keys if k] or [derived_key(secret_key)]
    return MultiFernet([Fernet(k) for k in material])


def _fernet() -> MultiFernet:
    return fernet_from_keys(list(getattr(settings, "FIELD_ENCRYPTION_KEYS", []) or []), secret_key=settings.SECRET_KEY)


def encrypt_secret(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptError(
            "stored credentials cannot be decrypted with the configured FIELD_ENCRYPTION_KEYS"
        ) from exc


def rotate_token(token: str) -> str:
    return _fernet().rotate(token.encode()).decode()
