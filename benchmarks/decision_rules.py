"""Rules on how many genres a movie gets, on top of the per-genre thresholds, on seeded splits other than seed 0's.

    python benchmarks/decision_rules.py --seeds 1,2,3

Almost every movie has one to three genres (98.7% of the shared table), yet a model's F1-tuned thresholds give
some movies none and others four or more. Each rule is scored on the same test probabilities of ``--model``
(trained once a split): "floor" gives a movie with no genre over its threshold its most likely one, "cap K"
keeps at most K genres; both rank genres by their log-odds margin over their thresholds.
"""

from __future__ import annotations

import argparse

import numpy as np
from head_selection import USES, variant
from scipy.special import logit
from shared_data import DATA, run_benchmark
from sklearn.metrics import f1_score

from moviegenre.data.genres import GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.data.splits import split_for
from moviegenre.evaluation.evaluate import score

RULES = {"thresholds": (False, None), "floor": (True, None), "cap 3": (False, 3), "floor + cap 3": (True, 3),
         "cap 4": (False, 4)}


def decide(probabilities: np.ndarray, thresholds: np.ndarray, floor: bool, cap: int | None) -> np.ndarray:
    """Each movie's genres: those over their thresholds, with at least one (``floor``) and at most ``cap``."""
    margin = logit(np.clip(probabilities, 1e-6, 1 - 1e-6)) - logit(thresholds)[None, :]
    chosen = margin >= 0
    if floor:
        empty = np.flatnonzero(~chosen.any(1))
        chosen[empty, margin[empty].argmax(1)] = True
    if cap is not None:
        rank = np.argsort(np.argsort(-margin, axis=1), axis=1)
        chosen &= rank < cap
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--data", default=str(DATA / "movies.csv"))
    parser.add_argument("--model", default="fusion-gmu")
    args = parser.parse_args()
    table = read_table(args.data)
    encoder = GenreEncoder().fit(table.genres)
    labels = encoder.transform(table.genres)
    labelled = labels.sum(1) > 0
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        splits = split_for(table, labels, seed=seed)
        train, validation = (splits == "train") & labelled, (splits == "validation") & labelled
        model = variant({}, seed, args.model).fit(table.subset(train), labels[train], genres=encoder.classes_,
                                                  validation=(table.subset(validation), labels[validation]))
        test = table.subset(splits == "test")
        for use in USES:
            _, truth, probabilities = score(model, test, use)
            over = probabilities >= model.thresholds_[None, :]
            print(f"seed {seed}  {use:<11} {len(truth)} movies: {(~over.any(1)).mean():.1%} with no genre, "
                  f"{(over.sum(1) > 3).mean():.1%} with over 3 (mean {over.sum(1).mean():.2f}; "
                  f"true {truth.sum(1).mean():.2f})", flush=True)
            for rule, (floor, cap) in RULES.items():
                chosen = decide(probabilities, model.thresholds_, floor, cap)
                results.setdefault((rule, use), []).append(
                    tuple(f1_score(truth, chosen, average=average, zero_division=0) for average in ("micro", "macro")))
    print("\nmean over splits (micro/macro-F1):")
    for rule in RULES:
        print(f"  {rule:<14} " + "  ".join(f"{use} {np.mean([r[0] for r in results[rule, use]]):.3f}/"
                                           f"{np.mean([r[1] for r in results[rule, use]]):.3f}" for use in USES))


if __name__ == "__main__":
    run_benchmark(main)
