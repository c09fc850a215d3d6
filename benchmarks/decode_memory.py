"""Peak memory of decoding huge posters in parallel, as the service does for concurrent uploads.

Decodes one highly compressible PNG (a 128 kB file of ~40 MP, just under the loader's cap) in ``--threads``
threads at once and reports the process's peak RSS, with the loader's reduced decoding (``draft``, as the
service, ``predict`` and ``explain`` use it) or without. Run each mode in a fresh process: peak RSS only grows.

    python benchmarks/decode_memory.py --mode draft
    python benchmarks/decode_memory.py --mode full
"""

from __future__ import annotations

import argparse
import io
import resource
import time
from concurrent.futures import ThreadPoolExecutor

from PIL import Image
from shared_data import run_benchmark  # benchmarks/ is on the path when this runs as a script

from moviegenre.data.images import DRAFT_SIDE, load_image

SIZE = (7720, 5140)  # 39.7 MP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("draft", "full"), default="draft")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    out = io.BytesIO()
    Image.new("RGB", SIZE, (200, 30, 30)).save(out, "PNG")
    data = out.getvalue()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    draft = DRAFT_SIDE if args.mode == "draft" else None
    started = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        sizes = set(pool.map(lambda _: load_image(data, draft=draft).size, range(args.threads)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.mode}: {args.threads} x {SIZE[0]}x{SIZE[1]} PNG ({len(data):,} bytes) decoded to {sizes} in "
          f"{time.perf_counter() - started:.1f} s; peak RSS {peak:,.0f} MB ({before:,.0f} MB before decoding)")


if __name__ == "__main__":
    run_benchmark(main)
