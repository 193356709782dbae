"""Django usernames for users known by e-mail address."""

from __future__ import annotations

import hashlib

USERNAME_MAX = 150  # django.contrib.auth's User.username


def username_for_email(email: str) -> str:
    """The e-mail itself when it fits ``User.username`` (150 characters); a longer address (valid
    up to 254) keeps its first characters plus a digest of the whole, so it stays unique instead
    of colliding with another long address that shares the first 150."""
    if len(email) <= USERNAME_MAX:
        return email
    digest = hashlib.sha256(email.encode()).hexdigest()[:16]
    return f"{email[: USERNAME_MAX - len(digest) - 1]}~{digest}"
