"""How the packaged model's settings were chosen: variants of a model (fusion-gmu) on splits other than the reported one.

    python benchmarks/head_selection.py                              # the chosen heads vs the earlier one
    python benchmarks/head_selection.py --variant h512='{"hidden": 512}' --seeds 1,2,3
    python benchmarks/head_selection.py --variant no-title='{"title_weight": 0}' --variant cross-fit='{"cross_fit": true, "refit": false, "description_thresholds": false}'
    python benchmarks/head_selection.py --variant asl='{"config": {"loss": "asl"}}'
    python benchmarks/head_selection.py --variant fusion-gmu='{}' --variant no-poster-net='{"poster_net_weight": 0}'
    python benchmarks/head_selection.py --data ../shared/data/mmimdb_dev_text.csv --uses description
    python benchmarks/head_selection.py --model tfidf-nb-logreg --variant C2='{"C": 2.0}' --uses description

The packaged model is scored on the test rows of the seed-0 split (scripts/build_default_model.py), so its
settings are chosen on the test rows of seeded splits 1, 2, 3 instead: each variant is trained on a split's
train rows (thresholds tuned on its validation rows) and scored with both inputs, a poster only, a
description only and ``any`` (all a row has, its title included: the only slice a title changes). Prints
micro/macro-F1 per split and the mean over splits.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from shared_data import DATA, run_benchmark  # benchmarks/ is on the path when this runs as a script

from moviegenre.data.genres import GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.data.splits import split_for
from moviegenre.evaluation.evaluate import score
from moviegenre.models import create_model
from moviegenre.training.config import configure

USES = ("both", "poster", "description", "any")
VARIANTS = {"fusion-gmu, Lite0 only, no title": {"image_encoder": "efficientnet-lite0", "title_weight": 0.0},
            "fusion-gmu (3 members)": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--data", default=str(DATA / "movies.csv"),
                        help="the table (e.g. ../shared/data/mmimdb_dev_text.csv with --uses description)")
    parser.add_argument("--uses", default=",".join(USES), help="the slices to score, comma-separated")
    parser.add_argument("--model", default="fusion-gmu", help="the registered model the variants change")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=JSON",
                        help="the model's parameters to try (replaces the default pair)")
    args = parser.parse_args()
    variants = dict(VARIANTS)
    if args.variant:
        variants = {name: json.loads(params) for name, params in (v.split("=", 1) for v in args.variant)}
    table = read_table(args.data)
    compare_on_splits(table, {name: (lambda seed, params=params: variant(params, seed, args.model))
                              for name, params in variants.items()},
                      seeds=[int(seed) for seed in args.seeds.split(",")], uses=tuple(args.uses.split(",")))


def variant(params: dict, seed: int, name: str):
    """The registered model ``name`` with ``params``; their ``config`` fields override its training settings."""
    model = create_model(name, **{k: v for k, v in params.items() if k != "config"})
    configure(model, seed, {**params.get("config", {}), "progress": False})
    return model


def labelled_splits(table, seeds: list[int]):
    """For each seeded split: its seed, the genres of the whole table, every row's labels in them, and the split's
    labelled train, validation and test rows."""
    encoder = GenreEncoder().fit(table.genres)
    labels = encoder.transform(table.genres)
    labelled = labels.sum(1) > 0
    for seed in seeds:
        splits = split_for(table, labels, seed=seed)
        yield seed, encoder.classes_, labels, {name: (splits == name) & labelled for name in ("train", "validation",
                                                                                             "test")}


def fit_on_split(model, table, genres: list[str], labels: np.ndarray, rows: dict[str, np.ndarray]):
    """``model`` fitted on a split's train rows, its validation rows choosing epochs and thresholds."""
    return model.fit(table.subset(rows["train"]), labels[rows["train"]], genres=genres,
                     validation=(table.subset(rows["validation"]), labels[rows["validation"]]))


def scores_line(seed: int, name: str, uses: tuple[str, ...], row) -> str:
    return f"seed {seed}  {name:<34} " + "  ".join(f"{use} {r[0]:.3f}/{r[1]:.3f}" for use, r in zip(uses, row))


def print_means(results: dict[str, list], uses: tuple[str, ...]) -> None:
    print("\nmean over splits (micro/macro-F1):")
    for name, rows in results.items():
        mean = np.mean(rows, axis=0)
        print(f"  {name:<34} " + "  ".join(f"{use} {m[0]:.3f}/{m[1]:.3f}" for use, m in zip(uses, mean)))


def compare_on_splits(table, variants: dict, seeds: list[int], uses: tuple[str, ...] = USES) -> None:
    """Fit each ``variants[name](seed)`` model on each seeded split's train rows (validation rows for early
    stopping and thresholds), score its test rows with each of ``uses``; print per split and the mean."""
    results: dict[str, list[np.ndarray]] = {name: [] for name in variants}
    for seed, genres, labels, rows in labelled_splits(table, seeds):
        test = table.subset(rows["test"])  # score() leaves out unlabelled rows in any case
        for name, build in variants.items():
            started = time.perf_counter()
            model = fit_on_split(build(seed), table, genres, labels, rows)
            seconds = time.perf_counter() - started
            row = np.array([[metrics["micro_f1"], metrics["macro_f1"]]
                            for metrics in (score(model, test, use)[0] for use in uses)])
            results[name].append(row)
            print(scores_line(seed, name, uses, row) + f"  ({seconds:.0f} s)", flush=True)
    print_means(results, uses)


if __name__ == "__main__":
    run_benchmark(main)
