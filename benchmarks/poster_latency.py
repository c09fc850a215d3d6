"""What one poster costs a served request: each image encoder's fast path (ONNX Runtime on a CPU) on one poster at a
time, as `moviegenre serve` runs it.

    python benchmarks/poster_latency.py --encoders efficientnet-lite0+lite2+flip,efficientnet-lite0+lite1+lite2+flip

Decodes ``--posters`` posters of ``../shared/data/movies.csv``, warms each encoder up on three of them, then encodes
them one by one and prints the median milliseconds per poster (decoding excluded).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from shared_data import DATA, run_benchmark  # benchmarks/ is on the path when this runs as a script

from moviegenre.data.images import load_image
from moviegenre.data.readers import read_table
from moviegenre.features.encoders import image_encoder
from moviegenre.features.fast import fast_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default="efficientnet-lite0+lite2+flip,efficientnet-lite0+lite1+lite2+flip")
    parser.add_argument("--posters", type=int, default=30)
    parser.add_argument("--data", default=str(DATA / "movies.csv"))
    args = parser.parse_args()
    table = read_table(args.data)
    images = [load_image(path) for path in [p for p in table.posters if p][: args.posters]]
    for name in args.encoders.split(","):
        encoder = fast_encoder(image_encoder(name))
        for image in images[:3]:
            encoder.encode_images([image])
        seconds = []
        for image in images:
            started = time.perf_counter()
            encoder.encode_images([image])
            seconds.append(time.perf_counter() - started)
        print(f"{name:<40} {type(encoder).__name__:<18} {1000 * float(np.median(seconds)):6.1f} ms a poster "
              f"(median of {len(images)}, {os.environ.get('OMP_NUM_THREADS', 'all')} threads)")


if __name__ == "__main__":
    run_benchmark(main)
