"""How well ``moviegenre compare --genre G`` ranks real posters: ROC AUC of its score against "labelled G".

For each genre G (the five largest and Horror, Animation, Western), every poster of the test rows of the seed-0
split (the split the packaged model was trained on: its test rows were never seen in training or threshold
tuning) is compared in one call with ``--genre G``; the AUC is the share of (labelled G, not labelled G) pairs
whose G poster scores higher (ties count half). Beside it, the AUC of the G probability alone, for reference:
the compare score also subtracts the strongest other genre, so a Horror poster that also reads as Thriller
loses some of its lead.

    MOVIEGENRE_CACHE=/tmp/cache python benchmarks/compare_ranking.py [--sample N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from shared_data import DATA, run_benchmark  # benchmarks/ is on the path when this runs as a script
from sklearn.metrics import roc_auc_score

from moviegenre.data.genres import GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.data.splits import split_for
from moviegenre.serving.compare import compare
from moviegenre.serving.predictor import Predictor

EXTRA = ("Horror", "Animation", "Western")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "movies.csv")
    parser.add_argument("--sample", type=int, default=0, help="Compare a seeded sample of this many test posters.")
    parser.add_argument("--json", type=Path, help="Also write the table as JSON here.")
    args = parser.parse_args()

    predictor = Predictor()
    run = json.loads((predictor.run_dir / "run.json").read_text())
    table = read_table(args.data)
    encoder = GenreEncoder(run["min_genre_count"], run["drop_genres"]).fit(table.genres)
    labels = encoder.transform(table.genres)
    splits = split_for(table, labels, seed=run["seed"])
    kept = labels.sum(1) > 0
    # The split must be the packaged model's: same test size as its run.json records.
    assert int(((splits == "test") & kept).sum()) == run["rows"]["test"], "not the packaged model's split"
    rows = np.flatnonzero((splits == "test") & kept & table.has_poster)
    if args.sample and args.sample < len(rows):
        rows = np.sort(np.random.default_rng(0).choice(rows, args.sample, replace=False))
    test = table.subset(rows)
    truth = GenreEncoder.from_classes(predictor.genres).transform(test.genres)
    largest = [encoder.classes_[i] for i in np.argsort(-encoder.counts_)[:5]]
    print(f"{len(test)} test posters of the seed-0 split; genres: {', '.join(largest + list(EXTRA))}")
    print("| genre | posters labelled G | not G | AUC of the compare score | AUC of p(G) alone | seconds |")
    print("|---|---|---|---|---|---|")
    results = []
    for genre in largest + list(EXTRA):
        started = time.perf_counter()
        result = compare(predictor, test.posters, intended=[genre], progress=False)
        assert not result["errors"], result["errors"][:3]
        label = truth[:, predictor.genres.index(genre)]
        probability = [v["probabilities"][genre] for v in result["variants"]]
        row = {"genre": genre, "positives": int(label.sum()), "negatives": int((1 - label).sum()),
               "auc_score": round(float(roc_auc_score(label, result["scores"])), 3),
               "auc_probability": round(float(roc_auc_score(label, probability)), 3),
               "seconds": round(time.perf_counter() - started, 1)}
        results.append(row)
        print("| " + " | ".join(str(v) for v in row.values()) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"posters": len(test), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    run_benchmark(main)
