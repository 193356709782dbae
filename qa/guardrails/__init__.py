"""Guardrails of the Q&A: prompt injection (:mod:`qa.guardrails.injection`: detect, neutralise)
and PII (:mod:`qa.guardrails.pii`: find, redact). Pure Python, no Django.

How the pipeline (``qa.services.pipeline``) uses them:
- ``detect_injection(question)``: a question with an injection is answered from document text
  only (never sent to a language model); the finding is reported, never echoed.
- for each retrieved chunk, ``detect_injection(chunk.text)``: the chunk is reported and passed
  to the LLM as ``neutralize_chunk(chunk.text, finding)`` (``qa.answering.prompts`` does this);
  the answerers never quote injected text.
- ``redact_pii(text)`` on what is logged always, and on what is shown where the tenant's policy
  asks for it. Redacting a quote breaks its verbatim property, so redaction runs after validation.
"""
