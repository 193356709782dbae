"""inference.embedding: in-process MiniLM and the same model through a real Triton."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from inference.embedding import (
    MINILM_DIM,
    MODEL_MINILM,
    E5Embedder,
    Embedder,
    EmbedderConfig,
    InferenceError,
    InferenceUnavailable,
    InProcessEmbedder,
    TritonEmbedder,
    embed_queries,
    embed_query,
    embedder_from_config,
    get_embedder,
)
from inference.triton.builtin import MINILM_NAME
from tests.support.net import free_port
from tests.support.triton import ECHO, SharedTriton

TEXTS = [
    "Aspirin reduces the risk of myocardial infarction in high-risk patients.",
    "The Federal Aviation Administration issued an airworthiness directive for the Boeing 737 MAX.",
    "short",
    "",  # empty text is valid input and must still produce a unit vector
    "Les modèles de langage produisent des plongements vectoriels. 日本語のテキスト。",
    " ".join(["Dynamic batching groups concurrent requests into one model execution."] * 30),  # > 256 tokens
]


@pytest.fixture(scope="module")
def local() -> InProcessEmbedder:
    emb = InProcessEmbedder()
    emb.load()
    return emb


@pytest.fixture(scope="module")
def reference(local: InProcessEmbedder) -> np.ndarray:
    return local.embed(TEXTS)


def test_in_process_contract(local: InProcessEmbedder, reference: np.ndarray) -> None:
    assert isinstance(local, Embedder)
    assert local.dim == MINILM_DIM and "MiniLM" in local.model_id
    assert reference.dtype == np.float32 and reference.shape == (len(TEXTS), MINILM_DIM)
    np.testing.assert_allclose(np.linalg.norm(reference, axis=1), 1.0, atol=1e-5)
    assert local.embed([]).shape == (0, MINILM_DIM)
    # Order is preserved and each row depends only on its own text.
    single = local.embed([TEXTS[1]])[0]
    assert float(single @ reference[1]) > 0.9999


def test_in_process_semantics(local: InProcessEmbedder) -> None:
    q, near, far = local.embed(
        ["How many people died in the plane crash?", "The accident killed 189 people.", "Preheat the oven."]
    )
    assert float(q @ near) > float(q @ far) + 0.2


def test_in_process_many_threads_same_answer(local: InProcessEmbedder, reference: np.ndarray) -> None:
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = local.embed([TEXTS[i % len(TEXTS)]])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8
    for i, row in results.items():
        assert float(row[0] @ reference[i % len(TEXTS)]) > 0.9999


def test_bad_input_is_a_permanent_error(local: InProcessEmbedder) -> None:
    with pytest.raises(InferenceError, match="not a single string"):
        local.embed("oops")  # type: ignore[arg-type]
    with pytest.raises(InferenceError, match="expected str"):
        local.embed(["ok", 3])  # type: ignore[list-item]


def test_config_and_cache() -> None:
    cfg = EmbedderConfig(inprocess_model=MODEL_MINILM)
    assert get_embedder(cfg) is get_embedder(EmbedderConfig(inprocess_model=MODEL_MINILM))
    assert isinstance(get_embedder(cfg), InProcessEmbedder)
    vec = embed_query("what is the recommended dose?", cfg)
    assert vec.shape == (MINILM_DIM,) and abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5
    # the default is multilingual-e5-small (same dimension)
    assert isinstance(embedder_from_config("inprocess", None, "minilm"), E5Embedder)
    with pytest.raises(ValueError, match="unknown embedding model"):
        embedder_from_config("inprocess", None, "minilm", inprocess_model="bert-base")
    trit = embedder_from_config("triton", "grpc://127.0.0.1:8001", "minilm", "1")
    assert isinstance(trit, TritonEmbedder) and trit.model_id == "triton/minilm@1"
    with pytest.raises(ValueError, match="needs triton_url"):
        embedder_from_config("triton", None, "minilm", "")
    with pytest.raises(ValueError, match="unknown embedder backend"):
        embedder_from_config("onnx", None, "minilm", "")


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["http", "grpc"])
def test_triton_matches_in_process(triton_minilm: SharedTriton, reference: np.ndarray, scheme: str) -> None:
    url = triton_minilm.server.http_url if scheme == "http" else triton_minilm.server.grpc_url
    emb = TritonEmbedder(url, MINILM_NAME)
    assert emb.dim == MINILM_DIM and emb.max_batch_size == 64
    got = emb.embed(TEXTS)
    assert got.dtype == np.float32 and got.shape == reference.shape
    cos = np.sum(got * reference, axis=1)
    assert np.all(cos > 0.999), cos
    assert isinstance(emb, Embedder)


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["http", "grpc"])
def test_triton_splits_batches_above_max_batch_size(triton: SharedTriton, scheme: str) -> None:
    """The echo model (max_batch_size 8) gets 20 rows: 3 requests, rows back in order."""
    triton.grpc.load_model(ECHO)
    url = triton.server.http_url if scheme == "http" else triton.server.grpc_url
    emb = TritonEmbedder(url, ECHO)
    texts = ["x" * (i + 1) for i in range(20)]
    out = emb.embed(texts)
    assert out.shape == (20, 4) and emb.max_batch_size == 8
    assert np.all(np.diff(out[:, 0]) > 0)  # longer text -> larger first component, in order

    # The model's own error (an error response) is permanent.
    with pytest.raises(InferenceError, match="asked to raise"):
        emb.embed(["fine", "__raise__"])

    # HTTP clients are per thread (gevent); calls from other threads must work too.
    errors: list[BaseException] = []

    def work() -> None:
        try:
            assert emb.embed(["abc"]).shape == (1, 4)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["http", "grpc"])
def test_triton_unloaded_model_and_dead_server_are_transient(triton: SharedTriton, scheme: str) -> None:
    url = triton.server.http_url if scheme == "http" else triton.server.grpc_url
    with pytest.raises(InferenceUnavailable, match="not serving"):
        TritonEmbedder(url, "never_loaded_model").embed(["x"])
    with pytest.raises(InferenceUnavailable):
        TritonEmbedder(f"{scheme}://127.0.0.1:{free_port()}", MINILM_NAME, timeout_s=3).embed(["x"])


# ------------------------------------------------------------------------------------------------
# multilingual-e5-small (the default in-process model)
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    emb = E5Embedder()
    emb.load()
    return emb


def test_e5_passages_and_queries_are_unit_vectors_in_input_order(e5: E5Embedder) -> None:
    assert isinstance(e5, Embedder) and e5.dim == 384 and e5.model_id == "intfloat/multilingual-e5-small"
    out = e5.embed(TEXTS)
    assert out.shape == (len(TEXTS), 384) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    # batching sorts by length internally; every row must still be its own text's vector
    for i in (0, 2, 5):
        assert float(e5.embed([TEXTS[i]])[0] @ out[i]) > 0.999
    assert e5.embed([]).shape == (0, 384)
    # queries get "query: ", passages "passage: ": not the same vector
    q = embed_queries(e5, [TEXTS[0]])[0]
    assert 0.8 < float(q @ out[0]) < 0.999


def test_e5_matches_an_english_question_to_a_german_passage(e5: E5Embedder) -> None:
    passages = e5.embed(
        [
            "Ein topologischer Raum heißt hausdorffsch, wenn je zwei verschiedene Punkte disjunkte Umgebungen haben.",
            "Das Skript kostet im Copyshop 5 Euro in der Größe A5.",
            "The FAA estimates that this proposed AD affects 73 airplanes of U.S. registry.",
        ]
    )
    questions = embed_queries(
        e5, ["When is a topological space called Hausdorff?", "How much does the printed script cost?"]
    )
    best = (questions @ passages.T).argmax(axis=1)
    assert best.tolist() == [0, 1]


def test_e5_precision_choice() -> None:
    assert E5Embedder(precision="fp32").precision == "fp32"
    assert E5Embedder(precision="auto").precision in ("bf16", "fp32")
    with pytest.raises(ValueError, match="precision"):
        E5Embedder(precision="int4")


@pytest.mark.slow
def test_triton_e5_builtin_gives_the_in_process_e5_vectors(triton_e5: SharedTriton) -> None:
    """Production embeds on Triton: the built-in ``e5s`` model must give the embedded default's
    vectors (passages and queries, with e5's prefixes added by the client), so both can share one
    collection and the quality figures measured in-process hold on Triton."""
    from inference.e5 import E5_MODEL_ID
    from inference.triton.builtin import E5_NAME

    remote = embedder_from_config("triton", triton_e5.server.grpc_url, E5_NAME)
    assert isinstance(remote, TritonEmbedder) and remote.model_id == E5_MODEL_ID
    local_e5 = E5Embedder(threads=1)
    texts = [*[t for t in TEXTS if t][:4], "Die hyperbolischen Geraden erfüllen nicht das Parallelenaxiom."]
    for mine, theirs in (
        (remote.embed(texts), local_e5.embed(texts)),
        (embed_queries(remote, texts), local_e5.embed_queries(texts)),
    ):
        assert mine.shape == theirs.shape == (len(texts), 384)
        cos = np.sum(mine * theirs, axis=1)
        assert np.all(cos > 0.995), cos
    # the prefix matters: a query vector is not the passage vector of the same text
    assert float(np.dot(remote.embed(texts[:1])[0], embed_queries(remote, texts[:1])[0])) < 0.999
