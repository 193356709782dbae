"""Name, label and quantity rules shared by the manifest builder and the validator.

The messages are written for an operator reading them in the portal UI, and mirror the wording
of the Kubernetes API server (DNS-1123 label / subdomain, DNS-1035 label).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUANTITY = re.compile(r"^[+]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$")

_LABEL_RULE = (
    "must be lowercase alphanumeric or '-' characters, start and end with an alphanumeric "
    "character, at most {max} characters (DNS-1123 label)"
)


class ManifestError(ValueError):
    """A spec or manifest the API server would reject; `problems` lists every finding."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        self.problems = list(problems) or [message]
        super().__init__(message)


def check_dns1123_label(value: str, what: str, max_length: int = 63) -> None:
    """Raise `ManifestError` unless `value` is a DNS-1123 label (namespaces, most names)."""
    if not isinstance(value, str) or not value or len(value) > max_length or not _DNS1123_LABEL.match(value):
        raise ManifestError(f"{what} {value!r} is invalid: {_LABEL_RULE.format(max=max_length)}")


def check_dns1035_label(value: str, what: str, max_length: int = 63) -> None:
    """Raise unless `value` is a DNS-1035 label (Service names: must also start with a letter)."""
    if not isinstance(value, str) or not value or len(value) > max_length or not _DNS1035_LABEL.match(value):
        raise ManifestError(
            f"{what} {value!r} is invalid: must start with a lowercase letter, contain only lowercase "
            f"alphanumeric or '-' characters, end with an alphanumeric character, at most {max_length} "
            "characters (DNS-1035 label, because it also names a Service)"
        )


def check_dns1123_subdomain(value: str, what: str) -> None:
    """Raise unless `value` is a DNS-1123 subdomain (the rule for most object names)."""
    if not isinstance(value, str) or not value or len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        raise ManifestError(
            f"{what} {value!r} is invalid: must be lowercase alphanumeric, '-' or '.' characters, start "
            "and end with an alphanumeric character, at most 253 characters (DNS-1123 subdomain)"
        )


def check_label(key: str, value: str) -> None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        raise ManifestError(f"label key {key!r} is invalid: the prefix must be a DNS-1123 subdomain")
    if len(name) > 63 or not _LABEL_NAME.match(name):
        raise ManifestError(
            f"label key {key!r} is invalid: name part must be at most 63 alphanumeric, '-', '_' or '.' "
            "characters, starting and ending with an alphanumeric character"
        )
    if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ManifestError(
            f"label {key}={value!r} is invalid: value must be empty or at most 63 alphanumeric, '-', '_' "
            "or '.' characters, starting and ending with an alphanumeric character"
        )


def check_quantity(value: str, what: str) -> None:
    if not isinstance(value, str) or not _QUANTITY.match(value):
        raise ManifestError(f"{what} {value!r} is not a Kubernetes quantity (e.g. '500m', '2', '16Gi')")
