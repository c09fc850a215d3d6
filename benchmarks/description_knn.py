"""A description (or a poster) given alone, read also through its nearest training ones (kNN), on seeded splits.

    OMP_NUM_THREADS=2 python benchmarks/description_knn.py --seeds 1,2,3
    OMP_NUM_THREADS=2 python benchmarks/description_knn.py --input poster --model poster-mlp --seeds 1,2,3

For each split, ``--model`` (``fusion-gmu-no-refit`` by default: its validation rows stay unseen, unlike
``fusion-gmu``'s refit) is trained once. Each validation and test row's k nearest training rows (cosine, in the
vectors the model reads of that input: mpnet-l11's for a description) vote with weights exp(similarity / tau); their
genre shares are blended into the model's probability with weight w. Each rule's per-genre thresholds are tuned on
the validation rows given that input alone, as the model tunes its own (``tune_thresholds``); test rows given it
alone are scored. w = 0 is the model as is.
"""

from __future__ import annotations

import argparse

import numpy as np
from head_selection import fit_on_split, labelled_splits, variant
from shared_data import DATA, run_benchmark

from moviegenre.data.readers import read_table
from moviegenre.evaluation.metrics import multilabel_metrics, tune_thresholds

RULES = [(0, 0.0, 0.0)] + [(k, tau, w) for k in (10, 25) for tau in (0.05, 1.0) for w in (0.2, 0.3)]


def neighbour_shares(train: np.ndarray, train_labels: np.ndarray, rows: np.ndarray, k: int, tau: float) -> np.ndarray:
    """Each row's k nearest training rows' genres, averaged with weights exp(cosine / tau)."""
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    similarity = rows / np.linalg.norm(rows, axis=1, keepdims=True) @ train.T
    nearest = np.argpartition(-similarity, k, axis=1)[:, :k]
    top = np.take_along_axis(similarity, nearest, 1)
    weights = np.exp((top - top.max(1, keepdims=True)) / tau)
    return (weights[:, :, None] * train_labels[nearest]).sum(1) / weights.sum(1, keepdims=True)


def input_rows(model, table, labels: np.ndarray, rows: np.ndarray, given: str = "description"
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows' probabilities given ``given`` alone, its vectors and the labels (``labels``: the model's genres'
    columns), where they have that input."""
    movies = table.subset(rows)
    has = np.asarray(movies.has_description if given == "description" else movies.has_poster)
    movies = movies.subset(has).with_inputs(given)
    return model.predict_proba(movies), model.features(movies, progress=False)[given], labels[rows][has]


def fitted_on_splits(table, seeds: list[int], name: str = "fusion-gmu-no-refit"):
    """For each seeded split: its seed, model ``name`` fitted on its training rows (its validation rows choosing
    epochs and thresholds, and staying unseen otherwise), every row's labels in the model's genres, and the split's
    labelled train, validation and test rows."""
    for seed, genres, labels, rows in labelled_splits(table, seeds):
        model = fit_on_split(variant({}, seed, name), table, genres, labels, rows)
        yield seed, model, labels[:, [list(genres).index(g) for g in model.genres_]], rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--input", choices=("description", "poster"), default="description")
    parser.add_argument("--model", default="fusion-gmu-no-refit")
    args = parser.parse_args()
    table = read_table(DATA / "movies.csv")
    scores: dict[tuple, list[tuple[float, float]]] = {rule: [] for rule in RULES}
    for seed, model, kept, rows in fitted_on_splits(table, [int(s) for s in args.seeds.split(",")], args.model):
        _, train_vectors, train_labels = input_rows(model, table, kept, rows["train"], args.input)
        val_p, val_vectors, val_labels = input_rows(model, table, kept, rows["validation"], args.input)
        test_p, test_vectors, test_labels = input_rows(model, table, kept, rows["test"], args.input)
        val_known, test_known = val_labels.sum(1) > 0, test_labels.sum(1) > 0
        for k, tau, w in RULES:
            v, t = val_p, test_p
            if w:
                v = (1 - w) * v + w * neighbour_shares(train_vectors, train_labels, val_vectors, k, tau)
                t = (1 - w) * t + w * neighbour_shares(train_vectors, train_labels, test_vectors, k, tau)
            thresholds = tune_thresholds(val_labels[val_known], v[val_known])
            metrics = multilabel_metrics(test_labels[test_known], t[test_known], thresholds, model.genres_)
            scores[(k, tau, w)].append((metrics["micro_f1"], metrics["macro_f1"]))
        print(f"seed {seed} done", flush=True)
    for (k, tau, w), values in scores.items():
        name = "model as is" if not w else f"k={k} tau={tau} w={w}"
        per_seed = " ".join(f"{a:.3f}/{b:.3f}" for a, b in values)
        mean = np.mean(values, axis=0)
        print(f"{name:<24} {per_seed}   mean {mean[0]:.3f}/{mean[1]:.3f}")


if __name__ == "__main__":
    run_benchmark(main)
