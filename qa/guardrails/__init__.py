"""Guardrails facade: prompt-injection detection/neutralisation and PII redaction.

The implementations live in :mod:`qa.guardrails.injection` and :mod:`qa.guardrails.pii` (kept as
two small modules); import from here.

Typical use in the Q&A service:
- ``detect_injection(question)``: refuse or log; never forward the raw finding to the user.
- for each retrieved chunk: ``finding = detect_injection(chunk.text)``; either drop the chunk or
  pass ``neutralize_chunk(chunk.text, finding)`` to the LLM (prompts.render_passages does this).
- ``redact_pii(text)`` on what is logged or shown where the tenant's policy asks for it. Redacting
  an answer's quote breaks its verbatim property, so redact for display after validation.
"""

from __future__ import annotations

from qa.guardrails.injection import InjectionFinding, InjectionSpan, detect_injection, neutralize_chunk
from qa.guardrails.pii import PII_KINDS, PiiFinding, RedactionResult, find_pii, redact_pii

__all__ = [
    "PII_KINDS",
    "InjectionFinding",
    "InjectionSpan",
    "PiiFinding",
    "RedactionResult",
    "detect_injection",
    "find_pii",
    "neutralize_chunk",
    "redact_pii",
]
