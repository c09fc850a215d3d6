"""Does knowing a description's source help judge it? On seeded splits, by source (IMDb, TMDB, OMDb).

    OMP_NUM_THREADS=2 python benchmarks/description_sources.py --seeds 1,2,3

movies.csv's descriptions come from three sources whose genres differ: TMDB's (mapped to IMDb names) give 1.8
genres a movie, IMDb's 2.3, and TMDB overviews are longer. A model given a description alone is not told its source.
For each split, ``fusion-gmu-no-refit`` (its validation rows stay unseen) is trained once and its test descriptions
given alone are scored per source: micro-F1, genres predicted and true per movie. Two rules are then told each row's
source (an oracle: the most any reading of the source from the text could give): one logit shift per source, tuned on
that source's validation descriptions (the model's thresholds kept), and per-genre thresholds per source (against
thresholds tuned again on all validation descriptions, the same rule without the source).
"""

from __future__ import annotations

import argparse
import csv

import numpy as np
from description_knn import fitted_on_splits, input_rows
from scipy.special import expit, logit
from shared_data import DATA, run_benchmark

from moviegenre.data.readers import read_table
from moviegenre.evaluation.metrics import multilabel_metrics, tune_thresholds

SOURCES = ("imdb", "tmdb", "omdb")
SHIFTS = np.round(np.arange(-1.5, 1.51, 0.1), 2)


def micro_macro(labels: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray, genres) -> tuple[float, float]:
    metrics = multilabel_metrics(labels, probabilities, thresholds, genres)
    return metrics["micro_f1"], metrics["macro_f1"]


def shifted(probabilities: np.ndarray, shift: float) -> np.ndarray:
    return expit(logit(np.clip(probabilities, 1e-6, 1 - 1e-6)) + shift)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args()
    table = read_table(DATA / "movies.csv")
    with open(DATA / "movies.csv", encoding="utf-8", newline="") as handle:
        source_of = {row["imdb_id"]: row["description_source"] for row in csv.DictReader(handle)}
    scores: dict[str, list[tuple[float, float]]] = {}
    for seed, model, kept, split_rows in fitted_on_splits(table, [int(s) for s in args.seeds.split(",")]):
        parts = {}
        for name, rows in (("val", split_rows["validation"]), ("test", split_rows["test"])):
            probabilities, _, part_labels = input_rows(model, table, kept, rows)
            ids = np.array(table.subset(rows).ids)[np.asarray(table.subset(rows).has_description)]
            known = part_labels.sum(1) > 0
            parts[name] = (probabilities[known], part_labels[known], np.array([source_of[i] for i in ids[known]]))
        (val_p, val_y, val_s), (test_p, test_y, test_s) = parts["val"], parts["test"]
        for source in SOURCES:
            rows = test_s == source
            predicted = (test_p[rows] >= model.thresholds_).sum(1).mean()
            micro = micro_macro(test_y[rows], test_p[rows], model.thresholds_, model.genres_)[0]
            print(f"seed {seed} {source}: {rows.sum()} descriptions, micro-F1 {micro:.3f}, genres predicted "
                  f"{predicted:.2f} a movie, true {test_y[rows].sum(1).mean():.2f}", flush=True)
        # One logit shift per source, tuned on that source's validation descriptions.
        per_shift = test_p.copy()
        for source in SOURCES:
            val_rows, test_rows = val_s == source, test_s == source
            if val_rows.any() and test_rows.any():
                best = max(SHIFTS, key=lambda s, rows=val_rows: micro_macro(
                    val_y[rows], shifted(val_p[rows], s), model.thresholds_, model.genres_)[0])
                per_shift[test_rows] = shifted(test_p[test_rows], best)
                print(f"seed {seed} {source}: shift {best:+.1f}", flush=True)
        # Per-genre thresholds per source, against the same rule on all validation descriptions.
        per_source = np.zeros_like(test_y, dtype=float)
        for source in SOURCES:
            val_rows, test_rows = val_s == source, test_s == source
            thresholds = tune_thresholds(val_y[val_rows], val_p[val_rows], fallback=model.thresholds_) \
                if val_rows.any() else model.thresholds_
            per_source[test_rows] = test_p[test_rows] >= thresholds
        half = np.full(len(model.genres_), 0.5)  # per_source holds decisions (0/1): thresholds already applied
        rules = {"model as is": (test_p, model.thresholds_),
                 "one shift per source (source told)": (per_shift, model.thresholds_),
                 "thresholds tuned on validation descriptions": (test_p, tune_thresholds(val_y, val_p)),
                 "thresholds per source (source told)": (per_source, half)}
        for rule, (probabilities, thresholds) in rules.items():
            scores.setdefault(rule, []).append(micro_macro(test_y, probabilities, thresholds, model.genres_))
    print("\ntest descriptions given alone, micro/macro-F1 per seed and mean:")
    for rule, values in scores.items():
        mean = np.mean(values, axis=0)
        print(f"  {rule:<46} " + " ".join(f"{a:.3f}/{b:.3f}" for a, b in values) + f"   mean {mean[0]:.3f}/{mean[1]:.3f}")


if __name__ == "__main__":
    run_benchmark(main)
