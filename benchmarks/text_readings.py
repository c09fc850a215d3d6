"""Other readings of mpnet's token states for ``fusion-gmu``'s text side, on seeded splits (none is registered).

    OMP_NUM_THREADS=2 python benchmarks/text_readings.py --reading mean+max --seeds 1,2,3
    OMP_NUM_THREADS=2 python benchmarks/text_readings.py --reading l10 --seeds 1,2,3
    OMP_NUM_THREADS=2 python benchmarks/text_readings.py --reading l10 --averaged --seeds 1,2,3,4,5

``fusion-gmu`` reads a description (and the text OCR reads off a poster) as the mean of mpnet's layer-11 token
states (``mpnet-l11``). ``mean+max`` reads layer 11 as the maximum of each dimension beside that mean (1,536-d);
``l10`` as the mean of layer 10. Each is registered here as a text encoder under a name of its own (its own cache
entries: the first split embeds every description and poster text again) and scored as ``head_selection.py``
scores its variants; compare with its ``--variant fusion-gmu='{}'`` on the same seeds. ``--averaged`` trains
``fusion-gmu`` beside the reading's model on each split and scores each alone and the two together: their
probabilities averaged, judged by their thresholds averaged.
"""

from __future__ import annotations

import argparse

import numpy as np
from head_selection import USES, compare_on_splits, variant
from shared_data import DATA

from moviegenre.data.genres import GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.data.splits import split_for
from moviegenre.evaluation.evaluate import score
from moviegenre.evaluation.metrics import multilabel_metrics
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


def averaged(table, name: str, seeds: list[int]) -> None:
    """``fusion-gmu`` and the model reading ``name``, each alone and averaged, on each split's test rows."""
    genres = GenreEncoder().fit(table.genres)
    labels = genres.transform(table.genres)
    labelled = labels.sum(1) > 0
    results = {key: [] for key in ("fusion-gmu", name, "averaged")}
    for seed in seeds:
        splits = split_for(table, labels, seed=seed)
        train, validation = (splits == "train") & labelled, (splits == "validation") & labelled
        test = table.subset(splits == "test")
        models = [variant({}, seed, "fusion-gmu"), variant({"text_encoder": name}, seed, "fusion-gmu")]
        for model in models:
            model.fit(table.subset(train), labels[train], genres=genres.classes_,
                      validation=(table.subset(validation), labels[validation]))
        rows = {key: [] for key in results}
        for use in USES:
            scored = [score(model, test, use) for model in models]
            together = multilabel_metrics(scored[0][1], (scored[0][2] + scored[1][2]) / 2,
                                          (models[0].thresholds_ + models[1].thresholds_) / 2, models[0].genres_)
            for key, metrics in zip(results, (scored[0][0], scored[1][0], together)):
                rows[key].append((metrics["micro_f1"], metrics["macro_f1"]))
        for key, row in rows.items():
            results[key].append(row)
            print(f"seed {seed}  {key:<12} " + "  ".join(f"{use} {r[0]:.3f}/{r[1]:.3f}" for use, r in zip(USES, row)),
                  flush=True)
    print("\nmean over splits (micro/macro-F1):")
    for key, rows in results.items():
        print(f"  {key:<12} " + "  ".join(f"{use} {m[0]:.3f}/{m[1]:.3f}" for use, m in zip(USES, np.mean(rows, 0))))


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
    main()
