"""The inference layer: everything that talks to a model server, a vector database or a child
process the portal starts, with no Django and no database rows.

- ``triton/``: admin client, the ``tritonserver`` process, model-repository rendering, local
  load/unload, built-in models;
- ``embedding.py`` (text -> vectors, in-process or Triton), ``llm.py`` (Triton-served chat
  model), ``vectorstore.py`` (Milvus, tenant-filtered), ``milvus_lite.py`` (the embedded server);
- ``supervisor.py``: the one class that starts, waits for and stops a child process group;
- ``health.py``: one readiness probe per backend.

Callers pass configuration explicitly; ``models_registry.backends`` builds these from settings.
"""
