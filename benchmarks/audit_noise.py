"""How many planted label errors does ``audit`` find? Corrupt a known, seeded share of the movies (drop one true
genre or add one false one), audit the corrupted table, and count the changed labels among the top-K suspects
for K = the number changed and 2x that. Every ranking is computed from the SAME out-of-fold probabilities of
the model: the simple baseline |label - probability|; cleanlab's per-class label-quality methods with and
without its class adjustment and its confident-learning filter, each on the model's probabilities and on the
audit's label-aware ones (``context_probabilities``); and the audit's own ``issues.csv``.

    MOVIEGENRE_CACHE=/root/.cache/moviegenre python benchmarks/audit_noise.py --out runs/audit-noise
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from shared_data import DATA, run_benchmark  # benchmarks/ is on the path when this runs as a script

from moviegenre.data.genres import DEFAULT_DROP_GENRES, DEFAULT_MIN_GENRE_COUNT, GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.evaluation.audit import FOLDS_DIR, _label_lists, audit, context_probabilities, label_suspicion

SHARED = DATA / "movies.csv"


def corrupt(table, genres: list[str], rate: float, seed: int) -> tuple[object, pd.DataFrame]:
    """A copy of ``table`` with one label changed in round(rate * n) movies, and the list of changes."""
    rng = np.random.default_rng(seed)
    frame = table.frame.copy()
    vocabulary = set(genres)
    changes = []
    for row in rng.choice(len(frame), size=round(rate * len(frame)), replace=False):
        labels = list(frame.at[row, "genres"])
        known = [g for g in labels if g in vocabulary]
        if len(known) >= 2 and rng.random() < 0.5:  # dropping the only genre would leave the movie unlabelled
            genre = str(rng.choice(known))
            labels.remove(genre)
            kind = "missing"
        else:
            genre = str(rng.choice(sorted(vocabulary - set(labels))))
            labels.append(genre)
            kind = "extra"
        frame.at[row, "genres"] = labels
        changes.append({"imdb_id": frame.at[row, "imdb_id"], "genre": genre, "kind": kind})
    return type(table)(frame, table.source), pd.DataFrame(changes)


def out_of_fold(audit_dir: Path, n_movies: int, n_genres: int) -> tuple[np.ndarray, np.ndarray]:
    """The audit's saved out-of-fold probabilities and each movie's fold (-1: not scored)."""
    probabilities = np.full((n_movies, n_genres), np.nan, dtype=np.float32)
    fold_of = np.full(n_movies, -1)
    for k, path in enumerate(sorted((audit_dir / FOLDS_DIR).glob("fold-*.npz"))):
        with np.load(path, allow_pickle=False) as fold:
            probabilities[fold["rows"]] = fold["probabilities"]
            fold_of[fold["rows"]] = k
    return probabilities, fold_of


def cleanlab_filter_scores(labels: np.ndarray, probabilities: np.ndarray, filter_by: str) -> np.ndarray:
    """Confident learning per genre: the labels it flags first (by self-confidence), then the rest."""
    from cleanlab.multilabel_classification.filter import find_multilabel_issues_per_class

    flagged = np.asarray(find_multilabel_issues_per_class(_label_lists(labels), probabilities, filter_by=filter_by))
    return flagged + label_suspicion(labels, probabilities, method="self_confidence", adjust=False)


def cleanlab_rankings(labels: np.ndarray, probabilities: np.ndarray, on: str) -> dict[str, np.ndarray]:
    rankings = {}
    for method in ("self_confidence", "normalized_margin", "confidence_weighted_entropy"):
        for adjust in (False, True) if method != "confidence_weighted_entropy" else (False,):  # cleanlab: no adjust
            name = f"cleanlab {method}" + (", adjusted" if adjust else "") + f" ({on})"
            rankings[name] = label_suspicion(labels, probabilities, method=method, adjust=adjust)
    for filter_by in ("prune_by_noise_rate", "both", "confident_learning"):
        rankings[f"cleanlab filter {filter_by}, then self_confidence ({on})"] = \
            cleanlab_filter_scores(labels, probabilities, filter_by)
    return rankings


def hits(order_keys: list[tuple[str, str]], changed: set[tuple[str, str]], k: int) -> int:
    return len(changed & set(order_keys[:k]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=Path("runs/audit-noise"))
    parser.add_argument("--rate", type=float, default=0.05, help="share of movies with one changed label")
    parser.add_argument("--seed", type=int, default=0, help="seed of the corruption and of the audit")
    parser.add_argument("--model", default="fusion-gmu")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    table = read_table(args.data)
    genres = GenreEncoder(DEFAULT_MIN_GENRE_COUNT, DEFAULT_DROP_GENRES).fit(table.genres).classes_
    noisy, changes = corrupt(table, genres, args.rate, args.seed)
    noisy_csv = noisy.save(args.out / "noisy.csv")
    changes.to_csv(args.out / "changes.csv", index=False)
    started = time.perf_counter()
    issues = audit(noisy_csv, args.out / "audit", args.model, args.folds, args.seed,
                   echo=lambda line: print(line, file=sys.stderr, flush=True))
    seconds = time.perf_counter() - started

    noisy = read_table(noisy_csv)
    encoder = GenreEncoder(DEFAULT_MIN_GENRE_COUNT, DEFAULT_DROP_GENRES).fit(noisy.genres)
    labels = encoder.transform(noisy.genres)
    probabilities, fold_of = out_of_fold(args.out / "audit", len(noisy), len(encoder.classes_))
    context = context_probabilities(labels, probabilities, fold_of)
    scored = np.flatnonzero(~np.isnan(probabilities).any(1))
    labels, probabilities, context = labels[scored], probabilities[scored], context[scored]
    ids = np.asarray(noisy.ids)[scored]
    pairs = [(movie, genre) for movie in ids for genre in encoder.classes_]  # row-major, as ravel() orders

    rankings = {"baseline |label - probability| (model)": np.abs(labels - probabilities),
                **cleanlab_rankings(labels, probabilities, "model"), **cleanlab_rankings(labels, context, "label-aware")}

    changed = set(zip(changes["imdb_id"], changes["genre"]))
    n = len(changed)
    rows = []
    for name, scores in rankings.items():
        order = np.argsort(-scores.ravel(), kind="stable")
        keys = [pairs[i] for i in order[:2 * n]]
        rows.append({"ranking": name, "top K": hits(keys, changed, n), "top 2K": hits(keys, changed, 2 * n)})
    shipped = list(zip(issues["imdb_id"], issues["genre"]))
    rows.append({"ranking": "audit issues.csv (shipped)", "top K": hits(shipped, changed, n),
                 "top 2K": hits(shipped, changed, 2 * n)})
    lines = [(f"{args.data}: {len(table):,} movies, {n} changed labels ({(changes['kind'] == 'missing').sum()} "
              f"dropped, {(changes['kind'] == 'extra').sum()} added; seed {args.seed}); {args.model}, "
              f"{args.folds} folds, audit {seconds:.0f} s"), "",
             "| ranking | found in top K | P@K = R@K | found in top 2K | P@2K | R@2K |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['ranking']} | {row['top K']} | {row['top K'] / n:.3f} | {row['top 2K']} | "
                     f"{row['top 2K'] / (2 * n):.3f} | {row['top 2K'] / n:.3f} |")
    print("\n".join(lines))
    (args.out / "results.json").write_text(json.dumps({"changed": n, "seconds": seconds, "rows": rows}, indent=2))


if __name__ == "__main__":
    run_benchmark(main)
