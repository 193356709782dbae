"""Pure-Python core of the portal's cited Q&A: extractive answers, prompts, grounding, citations.

Nothing here imports Django or talks to the network (passages are ``documents.passages.
RetrievedChunk`` values); configuration is passed as arguments so the services in
``qa/services/`` wire it to settings, retrieval and the LLM.
"""
