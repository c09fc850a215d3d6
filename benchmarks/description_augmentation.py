"""Sentence-level augmentation of descriptions inside fusion-gmu, on seeded splits 1-3 (neither is kept:
docs/model-selection.md).

    OMP_NUM_THREADS=2 python benchmarks/description_augmentation.py --mode train   # extra training rows
    OMP_NUM_THREADS=2 python benchmarks/description_augmentation.py --mode test    # test-time augmentation

``train``: each training movie whose description has two or more sentences gets a second training row, the same
movie (poster, title, labels) with one sentence left out, chosen by a hash of its id (every split gets the same
text, embedded once); validation and test rows are untouched. Scored as head_selection.py scores a variant.

``test``: a test description given alone that has two or more sentences is also read with each of its first four
sentences left out; the mean probability of those readings is blended into the full reading's with each weight in
``--weights`` (0: the model as it is), then judged by the model's own thresholds.
"""

from __future__ import annotations

import argparse
import hashlib
import re

import numpy as np
import pandas as pd
from head_selection import compare_on_splits, variant  # benchmarks/ is on the path when this runs as a script
from shared_data import DATA, run_benchmark

from moviegenre.data.genres import GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.data.splits import split_for
from moviegenre.data.table import MovieTable
from moviegenre.evaluation.metrics import multilabel_metrics

SENTENCE = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    return [s for s in SENTENCE.split(text.strip()) if s]


def without(parts: list[str], left_out: int) -> str:
    return " ".join(s for i, s in enumerate(parts) if i != left_out)


class WithSentenceDrops:
    """A model whose ``fit`` also learns from one sentence-dropped copy of each training description."""

    def __init__(self, model) -> None:
        self.model = model

    def fit(self, movies: MovieTable, labels: np.ndarray, **kwargs):
        frame = movies.frame
        texts = []
        for movie, description in zip(frame["imdb_id"], frame["description"]):
            parts = sentences(description)
            drop = int(hashlib.sha1(movie.encode()).hexdigest(), 16) % max(len(parts), 1)
            texts.append(without(parts, drop) if len(parts) > 1 else "")
        keep = np.array([bool(t) for t in texts])
        extra = frame[keep].copy()
        extra["description"] = [t for t in texts if t]
        extra["imdb_id"] = extra["imdb_id"] + "-aug"
        table = MovieTable(pd.concat([frame, extra], ignore_index=True), movies.source)
        print(f"  augmented: {len(frame)} -> {len(table)} training rows", flush=True)
        self.model.fit(table, np.vstack([labels, labels[keep]]), **kwargs)
        return self

    def __getattr__(self, name):
        return getattr(self.model, name)


def test_time(table: MovieTable, seeds: list[int], weights: list[float]) -> None:
    encoder = GenreEncoder().fit(table.genres)
    labels_all = encoder.transform(table.genres)
    labelled = labels_all.sum(1) > 0
    results: dict[float, list] = {w: [] for w in weights}
    for seed in seeds:
        splits = split_for(table, labels_all, seed=seed)
        train, validation = (splits == "train") & labelled, (splits == "validation") & labelled
        model = variant({}, seed, "fusion-gmu")
        model.fit(table.subset(train), labels_all[train], genres=encoder.classes_,
                  validation=(table.subset(validation), labels_all[validation]))
        test = table.subset(splits == "test").with_inputs("description")  # as evaluate.score picks the rows
        labels = GenreEncoder.from_classes(model.genres_).transform(test.genres)
        known = labels.sum(1) > 0
        test, labels = test.subset(known), labels[known]
        full = model.predict_proba(test)
        rows, owner = [], []
        for i, record in enumerate(test.frame.to_dict("records")):
            parts = sentences(record["description"])
            for k in range(min(len(parts), 4)) if len(parts) > 1 else []:
                rows.append({**record, "imdb_id": f"{record['imdb_id']}-{k}", "description": without(parts, k)})
                owner.append(i)
        readings = model.predict_proba(MovieTable(pd.DataFrame(rows, columns=test.frame.columns), "readings"))
        counts = np.bincount(owner, minlength=len(full))
        mean = np.zeros_like(full)
        np.add.at(mean, np.array(owner), readings)
        augmented = counts > 0
        mean[augmented] /= counts[augmented, None]
        for w in weights:
            blended = full.copy()
            blended[augmented] = (1 - w) * full[augmented] + w * mean[augmented]
            metrics = multilabel_metrics(labels, blended, model.thresholds_, model.genres_)
            results[w].append((metrics["micro_f1"], metrics["macro_f1"]))
            print(f"seed {seed} weight {w}: description {metrics['micro_f1']:.3f}/{metrics['macro_f1']:.3f} "
                  f"({augmented.sum()} of {len(full)} augmented, {len(rows)} readings)", flush=True)
    for w, scores in results.items():
        print(f"mean weight {w}: " + "/".join(f"{v:.3f}" for v in np.mean(scores, axis=0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("train", "test"), required=True)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--weights", default="0,0.25,0.5", help="test mode: the augmented readings' weights")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    table = read_table(DATA / "movies.csv")
    if args.mode == "train":
        compare_on_splits(table, {"sentence-drop": lambda seed: WithSentenceDrops(variant({}, seed, "fusion-gmu"))},
                          seeds=seeds)
    else:
        test_time(table, seeds, [float(w) for w in args.weights.split(",")])


if __name__ == "__main__":
    run_benchmark(main)
