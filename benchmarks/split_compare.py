"""The project's multi-label stratified split (data/splits.py) against ``iterative-stratification``'s.

Both implement Sechidis et al. (2011). For 80/10/10 splits of the real genre labels (``../shared/data``, the
default genre policy) and of ``--synthetic`` rows drawn from them with replacement (same genre frequencies and
co-occurrences), prints seconds and how far each split's per-genre shares stray from the whole table's
(percentage points: the largest over genres and splits, and the mean over genres of each genre's largest),
with the split sizes. Needs iterative-stratification (``pip install -e ".[dev]"``).

    python benchmarks/split_compare.py [--synthetic 1000000] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np
from shared_data import DATA, run_benchmark  # benchmarks/ is on the path when this runs as a script

from moviegenre.data.genres import GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.data.splits import iterative_stratification, split_proportions
from moviegenre.data.table import SPLITS

SHARES = (0.8, 0.1, 0.1)


def ours(labels: np.ndarray, seed: int) -> np.ndarray:
    return iterative_stratification(labels, SHARES, seed)


def iterstrat(labels: np.ndarray, seed: int) -> np.ndarray:
    # Its MultilabelStratifiedShuffleSplit shuffles the rows first and splits in two; this is its three-way core.
    from iterstrat.ml_stratifiers import IterativeStratification

    order = np.random.default_rng(seed).permutation(len(labels))
    folds = np.empty(len(labels), dtype=int)
    folds[order] = IterativeStratification(labels[order].astype(bool), np.asarray(SHARES),
                                           np.random.RandomState(seed))
    return folds


def measure(name: str, labels: np.ndarray, seeds: list[int]) -> None:
    genres = [str(i) for i in range(labels.shape[1])]
    for method in (ours, iterstrat):
        seconds, worst, mean, sizes = [], [], [], []
        for seed in seeds:
            start = time.perf_counter()
            splits = np.array(SPLITS)[method(labels, seed)]
            seconds.append(time.perf_counter() - start)
            gaps = split_proportions(labels, splits, genres)["max diff (pp)"]
            worst.append(gaps.max())
            mean.append(gaps.mean())
            sizes.append("/".join(f"{(splits == s).mean():.4f}" for s in SPLITS))
        print(f"| {name} | {method.__name__} | {np.median(seconds):.2f} | {np.mean(worst):.3f} | {np.mean(mean):.3f} "
              f"| {sizes[0]} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=1_000_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    if importlib.util.find_spec("iterstrat") is None:  # checked after --help, which needs no iterstrat
        sys.exit('split_compare.py compares with iterative-stratification: pip install -e ".[dev]"')
    table = read_table(DATA / "movies.csv")
    labels = GenreEncoder().fit(table.genres).transform(table.genres).astype(bool)
    print(f"load average {os.getloadavg()[0]:.2f}; shares {SHARES}; seeds {args.seeds}")
    print("| rows | split | seconds (median) | worst gap (pp) | mean genre gap (pp) | train/val/test share (seed 0) |")
    print("|---|---|---|---|---|---|")
    measure(f"{len(labels):,} real", labels, args.seeds)
    synthetic = labels[np.random.default_rng(0).integers(0, len(labels), args.synthetic)]
    measure(f"{args.synthetic:,} synthetic", synthetic, args.seeds[:1])


if __name__ == "__main__":
    run_benchmark(main)
