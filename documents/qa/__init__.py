"""Pure-Python core of the portal's cited Q&A: guardrails, fusion, extractive answers, citations.

Nothing here imports Django or talks to the network; configuration is passed as arguments so the
service layer can wire it to settings, retrieval (Milvus) and the DRF endpoint.
"""
