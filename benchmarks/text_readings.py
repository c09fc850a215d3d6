"""Other readings of mpnet's token states for ``fusion-gmu``'s text side, on seeded splits (none is registered).

    OMP_NUM_THREADS=2 python benchmarks/text_readings.py --reading mean+max --seeds 1,2,3
    OMP_NUM_THREADS=2 python benchmarks/text_readings.py --reading l10 --seeds 1,2,3

``fusion-gmu`` reads a description (and the text OCR reads off a poster) as the mean of mpnet's layer-11 token
states (``mpnet-l11``). ``mean+max`` reads layer 11 as the maximum of each dimension beside that mean (1,536-d);
``l10`` as the mean of layer 10. Each is registered here as a text encoder under a name of its own (its own cache
entries: the first split embeds every description and poster text again) and scored as ``head_selection.py``
scores its variants; compare with its ``--variant fusion-gmu='{}'`` on the same seeds.
"""

from __future__ import annotations

import argparse

from head_selection import USES, compare_on_splits, variant
from shared_data import DATA

from moviegenre.data.readers import read_table
from moviegenre.features import encoders


def mean_and_max(device: str) -> encoders.SentenceEncoder:
    from sentence_transformers.sentence_transformer.modules import Pooling

    encoder = encoders.SentenceEncoder("mpnet-l11-meanmax", encoders._mpnet_path(), device, layers=11)
    encoder.model[1] = Pooling(encoder.dim, pooling_mode=("max", "mean"))  # not mean alone: no ONNX fast path
    encoder.dim *= 2
    return encoder


READINGS = {
    "mean+max": ("mpnet-l11-meanmax", mean_and_max),
    "l10": ("mpnet-l10", lambda device: encoders.SentenceEncoder("mpnet-l10", encoders._mpnet_path(), device,
                                                                 layers=10)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reading", choices=READINGS, required=True)
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args()
    name, build = READINGS[args.reading]
    encoders.TEXT_ENCODERS[name] = build
    compare_on_splits(read_table(DATA / "movies.csv"),
                      {name: lambda seed: variant({"text_encoder": name}, seed, "fusion-gmu")},
                      seeds=[int(seed) for seed in args.seeds.split(",")], uses=USES)


if __name__ == "__main__":
    main()
