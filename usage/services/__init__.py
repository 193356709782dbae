"""Usage services: quota checks and changes, the flush."""

from usage.services.flush import usage_flush
from usage.services.quotas import quota_cache_clear, quota_check, quota_update

__all__ = ["quota_cache_clear", "quota_check", "quota_update", "usage_flush"]
