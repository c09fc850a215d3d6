"""Other readings of mpnet's token states for ``fusion-gmu``'s text side, on seeded splits (none is registered).

    OMP_NUM_THREADS=2 python benchmarks/text_readings.py --reading mean+max --seeds 1,2,3
    OMP_NUM_THREADS=2 python benchmarks/text_readings.py --reading l10 --seeds 1,2,3
    OMP_NUM_THREADS=2 python benchmarks/text_readings.py --reading l10 --averaged --seeds 1,2,3,4,5
    OMP_NUM_THREADS=2 python benchmarks/text_readings.py --reading l11+minilm --seeds 1,2,3

``fusion-gmu`` reads a description (and the text OCR reads off a poster) as the mean of mpnet's layer-11 token
states (``mpnet-l11``). ``mean+max`` reads layer 11 as the maximum of each dimension beside that mean (1,536-d);
``l10`` as the mean of layer 10; ``l11+minilm`` as ``mpnet-l11``'s vector beside all-MiniLM-L6-v2's (1,152-d: a
second, smaller sentence encoder, as the poster reads three networks side by side). Each is registered here as a text encoder under a name of its own (its own cache
entries: the first split embeds every description and poster text again) and scored as ``head_selection.py``
scores its variants; compare with its ``--variant fusion-gmu='{}'`` on the same seeds. ``--averaged`` trains
``fusion-gmu`` beside the reading's model on each split and scores each alone and the two together: their
probabilities averaged, judged by their thresholds averaged.
"""

from __future__ import annotations

import argparse

import numpy as np
from head_selection import USES, compare_on_splits, fit_on_split, labelled_splits, print_means, scores_line, variant
from shared_data import DATA, run_benchmark

from moviegenre.data.readers import read_table
from moviegenre.evaluation.evaluate import score
from moviegenre.evaluation.metrics import multilabel_metrics
from moviegenre.features import encoders
from moviegenre.features.cache import embed_texts


def mean_and_max(device: str) -> encoders.SentenceEncoder:
    from sentence_transformers.sentence_transformer.modules import Pooling

    encoder = encoders.SentenceEncoder("mpnet-l11-meanmax", encoders._mpnet_path(), device, layers=11)
    encoder.model[1] = Pooling(encoder.dim, pooling_mode=("max", "mean"))  # not mean alone: no ONNX fast path
    encoder.dim *= 2
    return encoder


class Concatenated:
    """Sentence encoders' vectors side by side, each read through its own feature cache."""

    model = ()  # no network of its own: features/fast.py finds nothing to export, its parts have their exports

    def __init__(self, name: str, parts: list[str], device: str) -> None:
        self.name, self.device = name, device
        self.parts = [encoders.text_encoder(part, device) for part in parts]
        self.dim = sum(part.dim for part in self.parts)

    def encode_texts(self, texts, batch_size: int = 64, progress: bool = True) -> np.ndarray:
        return np.hstack([embed_texts(texts, part, progress=False) for part in self.parts])


READINGS = {
    "mean+max": ("mpnet-l11-meanmax", mean_and_max),
    "l10": ("mpnet-l10", lambda device: encoders.SentenceEncoder("mpnet-l10", encoders._mpnet_path(), device,
                                                                 layers=10)),
    "l11+minilm": ("mpnet-l11+minilm", lambda device: Concatenated("mpnet-l11+minilm", ["mpnet-l11", "minilm"], device)),
}


def averaged(table, name: str, seeds: list[int]) -> None:
    """``fusion-gmu`` and the model reading ``name``, each alone and averaged, on each split's test rows."""
    results = {key: [] for key in ("fusion-gmu", name, "averaged")}
    for seed, genres, labels, rows in labelled_splits(table, seeds):
        test = table.subset(rows["test"])
        models = [fit_on_split(variant(params, seed, "fusion-gmu"), table, genres, labels, rows)
                  for params in ({}, {"text_encoder": name})]
        scores = {key: [] for key in results}
        for use in USES:
            scored = [score(model, test, use) for model in models]
            together = multilabel_metrics(scored[0][1], (scored[0][2] + scored[1][2]) / 2,
                                          (models[0].thresholds_ + models[1].thresholds_) / 2, models[0].genres_)
            for key, metrics in zip(results, (scored[0][0], scored[1][0], together)):
                scores[key].append((metrics["micro_f1"], metrics["macro_f1"]))
        for key, row in scores.items():
            results[key].append(row)
            print(scores_line(seed, key, USES, row), flush=True)
    print_means(results, USES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reading", choices=READINGS, required=True)
    parser.add_argument("--averaged", action="store_true", help="also fusion-gmu, and the two models averaged")
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args()
    name, build = READINGS[args.reading]
    encoders.TEXT_ENCODERS[name] = build
    table, seeds = read_table(DATA / "movies.csv"), [int(seed) for seed in args.seeds.split(",")]
    if args.averaged:
        averaged(table, name, seeds)
    else:
        compare_on_splits(table, {name: lambda seed: variant({"text_encoder": name}, seed, "fusion-gmu")},
                          seeds=seeds, uses=USES)


if __name__ == "__main__":
    run_benchmark(main)
