"""What one input costs a served request: each encoder's fast path (ONNX Runtime on a CPU) on one poster or one
description at a time, and reading a poster's text (OCR), as `moviegenre serve` runs them.

    python benchmarks/encoder_latency.py
    python benchmarks/encoder_latency.py --images efficientnet-lite0+lite2+flip --texts mpnet-l11 --no-ocr

Decodes ``--inputs`` posters and takes as many descriptions of ``../shared/data/movies.csv``, warms each encoder
up on three of them, then encodes them one by one in ``--rounds`` alternating rounds and prints the median
milliseconds per input (decoding excluded) of each encoder's best round and its worst: the machine may be
shared, and alternating rounds let every encoder meet the same quiet spells. With OCR on, each text encoder is
also timed on the texts read off those posters (a lone poster's text is read by it too).

These are the per-request costs of the levers in docs/model-selection.md: a second view (the mirror image), a
second or third network, mpnet instead of MiniLM, OCR.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence

import numpy as np
from shared_data import DATA, run_benchmark  # benchmarks/ is on the path when this runs as a script

from moviegenre.data.images import load_image
from moviegenre.data.readers import read_table
from moviegenre.data.table import plural
from moviegenre.features.encoders import image_encoder, text_encoder
from moviegenre.features.fast import fast_encoder
from moviegenre.features.poster_text import poster_text_reader

IMAGES = ("efficientnet-lite0,efficientnet-lite0+flip,efficientnet-lite0+lite2+flip,"
          "efficientnet-lite0+lite1+lite2+flip")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=IMAGES, help="image encoders, comma-separated ('' for none)")
    parser.add_argument("--texts", default="minilm,mpnet,mpnet-l11", help="text encoders, comma-separated ('' for none)")
    parser.add_argument("--no-ocr", dest="ocr", action="store_false", help="do not time reading poster text")
    parser.add_argument("--inputs", type=int, default=30, help="posters and descriptions timed, each")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", default=str(DATA / "movies.csv"))
    args = parser.parse_args()
    if args.inputs < 1 or args.rounds < 1:
        parser.error("--inputs and --rounds take a whole number of 1 or more")
    table = read_table(args.data)
    images = [load_image(path) for path in [p for p in table.posters if p][: args.inputs]]
    texts = [text for text in table.descriptions if text][: args.inputs]
    timed: dict[str, tuple[str, Sequence, Callable]] = {}
    for name in filter(None, args.images.split(",")):
        encoder = fast_encoder(image_encoder(name))
        timed[name] = ("poster", images, lambda image, encoder=encoder: encoder.encode_images([image]))
    if args.ocr:
        reader = poster_text_reader()
        timed["poster text (OCR)"] = ("poster", images, reader.read)
        poster_texts = [text for text in map(reader.read, images) if text]
    for name in filter(None, args.texts.split(",")):
        encoder = fast_encoder(text_encoder(name))
        encode = lambda text, encoder=encoder: encoder.encode_texts([text], progress=False)
        timed[name] = ("description", texts, encode)
        if args.ocr:  # a lone poster's text is read by the text encoder too
            timed[f"{name} (a poster's text)"] = ("poster text", poster_texts, encode)
    for name, (unit, inputs, _) in list(timed.items()):
        if not inputs:  # e.g. a text-only table has no posters
            print(f"{name:<40} not timed: no {unit} in {args.data}")
            del timed[name]
    for _, inputs, encode in timed.values():
        for item in inputs[:3]:
            encode(item)
    medians: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(args.rounds):
        for name, (_, inputs, encode) in timed.items():
            medians[name].append(median_ms(inputs, encode))
    threads = os.environ.get("OMP_NUM_THREADS", "all")
    for name, (unit, inputs, _) in timed.items():
        print(f"{name:<40} {min(medians[name]):7.1f} ms a {unit} (worst round {max(medians[name]):.1f}; medians of "
              f"{len(inputs)}, {plural(args.rounds, 'round')}, {threads} threads)")


def median_ms(inputs: Sequence, encode: Callable) -> float:
    """The median milliseconds of ``encode`` on each of ``inputs`` alone."""
    seconds = []
    for item in inputs:
        started = time.perf_counter()
        encode(item)
        seconds.append(time.perf_counter() - started)
    return 1000 * float(np.median(seconds))


if __name__ == "__main__":
    run_benchmark(main)
