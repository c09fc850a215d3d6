"""Seeded multi-label stratified splits (iterative stratification), saved beside a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from moviegenre.data.genres import DEFAULT_DROP_GENRES, DEFAULT_MIN_GENRE_COUNT, GenreEncoder
from moviegenre.data.readers import check_regular, csv_frames
from moviegenre.data.table import SPLITS, MovieTable, atomic_write_text, check_not_input
from moviegenre.errors import ConfigError, DataError

SPLIT_CSV = "split.csv"
GENRES_JSON = "genres.json"
VALIDATION_SHARE = TEST_SHARE = 0.1  # the default split: 80/10/10


def iterative_stratification(labels: np.ndarray, proportions: tuple[float, ...], seed: int = 0) -> np.ndarray:
    """Fold index per row, keeping each label's share in every fold close to ``proportions``.

    Sechidis, Tsoumakas & Vlahavas (2011): repeatedly take the label with the fewest unassigned
    examples and give each of its examples to the fold that most lacks that label.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels).astype(bool)
    n_rows = len(labels)
    shares = np.asarray(proportions, dtype=float) / sum(proportions)
    wanted_rows = n_rows * shares
    wanted_per_label = labels.sum(0)[:, None] * shares[None, :]
    fold = np.full(n_rows, -1)
    unassigned = np.ones(n_rows, dtype=bool)

    def pick(scores: np.ndarray, tiebreak: np.ndarray) -> int:
        best = np.flatnonzero(scores == scores.max())
        if len(best) > 1:
            best = best[tiebreak[best] == tiebreak[best].max()]
        return int(rng.choice(best))

    while True:
        remaining = labels[unassigned].sum(0)
        if not remaining.any():
            break
        candidates = np.flatnonzero(remaining == remaining[remaining > 0].min())
        label = int(rng.choice(candidates))
        rows = np.flatnonzero(unassigned & labels[:, label])
        for row in rng.permutation(rows):
            target = pick(wanted_per_label[label], wanted_rows)
            fold[row] = target
            unassigned[row] = False
            wanted_per_label[labels[row], target] -= 1
            wanted_rows[target] -= 1
    for row in rng.permutation(np.flatnonzero(unassigned)):  # rows with no label
        target = pick(wanted_rows, wanted_rows)
        fold[row] = target
        wanted_rows[target] -= 1
    return fold


# Lightning seeds numpy, which takes seeds below 2**32, with the seed plus each ensemble member's number.
MAX_SEED = 2**31 - 1


def check_seed(seed: int) -> None:
    if seed < 0:  # numpy's generators take no negative seed: it would fail as a traceback
        raise ConfigError(f"--seed {seed}: give 0 or more")
    if seed > MAX_SEED:  # ... nor one of 2**32 or more: a traceback after minutes of embedding
        raise ConfigError(f"--seed {seed}: give at most {MAX_SEED}")


def stratified_split(labels: np.ndarray, *, validation: float = VALIDATION_SHARE, test: float = TEST_SHARE,
                     seed: int = 0) -> np.ndarray:
    """Split name ("train"/"validation"/"test") per row; a size of 0 leaves that split empty."""
    check_seed(seed)
    if not (validation >= 0 and test >= 0 and validation + test < 1):  # written so that NaN fails too
        raise DataError("split", f"validation {validation} and test {test} must each be 0 or more and together below 1",
                        hint="use fractions such as 0.1")
    shares = (1.0 - validation - test, validation, test)
    folds = iterative_stratification(labels, shares, seed)
    return np.array(SPLITS)[folds]


def split_for(table: MovieTable, labels: np.ndarray, *, validation: float = VALIDATION_SHARE, test: float = TEST_SHARE,
              seed: int = 0) -> np.ndarray:
    """The table's own split when it carries one (MM-IMDb ``split.json``, a CSV's split column; used as is), else a
    stratified one. A row the given one leaves out, or puts in a split of another name, is an error: training would
    never see it, and the saved split would hold a row that ``load_split`` refuses (``read_table`` names each such
    row already; this is for tables built in memory)."""
    given = table.split
    if given is None or not (given != "").any():
        return stratified_split(labels, validation=validation, test=test, seed=seed)
    bad = np.flatnonzero(~np.isin(given, SPLITS))
    if len(bad):
        row = int(bad[0])
        raise DataError(table.source, f"unknown split '{given[row]}'" if given[row] else
                        f"'{table.ids[row]}' is in no split", row=row + 1, field="split",
                        hint="give every movie train, validation or test, or none to split by seed")
    return given


def save_split(path: str | Path, ids: list[str], splits: np.ndarray) -> Path:
    path = Path(path)
    atomic_write_text(path, pd.DataFrame({"imdb_id": ids, "split": splits}).to_csv(index=False, lineterminator="\n"))
    return path


def load_split(path: str | Path, table: MovieTable) -> np.ndarray:
    """The saved split of every row of ``table`` (so that every model of a comparison uses the same rows)."""
    split_of = read_split(path)
    missing = [i for i in table.ids if i not in split_of]
    if missing:
        raise DataError(path, f"{len(missing)} movies of {table.source} are not in the split (first: {missing[0]})",
                        hint="make the split from the same table")
    return np.array([split_of[i] for i in table.ids])


def read_split(path: str | Path) -> dict[str, str]:
    """A split file's ``{imdb_id: split}``, checked: known splits, each movie once."""
    path, hint = Path(path), "give a split.csv from 'data split'"
    check_regular(path, "cannot read split file", hint)
    try:
        frame = next(csv_frames(path))  # every row's fields counted: pandas would shift a row with one too many
    except DataError as error:
        raise DataError(path, f"cannot read split file ({error.problem})", row=error.row, field=error.field,
                        hint=error.hint or hint) from None
    if not {"imdb_id", "split"} <= set(frame.columns):
        raise DataError(path, "missing column 'imdb_id' or 'split'", hint=hint)
    bad = frame.loc[~frame["split"].isin(SPLITS), "split"]
    if len(bad):
        raise DataError(path, f"unknown split '{bad.iloc[0]}'", row=int(bad.index[0]) + 1, field="split",
                        hint="use train, validation or test")
    again = frame.loc[frame["imdb_id"].duplicated(), "imdb_id"]
    if len(again):
        rows = [int(i) + 1 for i in frame.index[frame["imdb_id"] == again.iloc[0]]]
        raise DataError(path, f"'{again.iloc[0]}' is listed {len(rows)} times (rows {', '.join(map(str, rows[:5]))})",
                        field="imdb_id", hint="list each movie once")
    return dict(zip(frame["imdb_id"], frame["split"]))


def split_proportions(labels: np.ndarray, splits: np.ndarray, genres: list[str]) -> pd.DataFrame:
    """Per-genre share of movies (in %) in the whole table and in each split that has movies."""
    labels = np.asarray(labels, dtype=bool)
    data = {"genre": genres, "all %": 100 * labels.mean(0)}
    data.update({f"{name} %": 100 * labels[splits == name].mean(0) for name in SPLITS if (splits == name).any()})
    frame = pd.DataFrame(data)
    frame["max diff (pp)"] = frame[list(data)[2:]].sub(frame["all %"], axis=0).abs().max(axis=1)
    return frame


def genre_split(table: MovieTable, *, min_genre_count: int | None = None, drop_genres: tuple[str, ...] | None = None,
                validation: float = VALIDATION_SHARE, test: float = TEST_SHARE, seed: int = 0,
                split_file: str | Path | None = None) -> tuple[GenreEncoder, np.ndarray, np.ndarray]:
    """The genre policy fitted on ``table``, the rows' 0/1 labels under it, and each row's split: seeded, or the
    one ``split_file`` holds."""
    encoder = GenreEncoder(DEFAULT_MIN_GENRE_COUNT if min_genre_count is None else min_genre_count,
                           DEFAULT_DROP_GENRES if drop_genres is None else drop_genres).fit(table.genres)
    labels = encoder.transform(table.genres)
    splits = load_split(split_file, table) if split_file else split_for(table, labels, validation=validation,
                                                                         test=test, seed=seed)
    return encoder, labels, splits


def save_genre_split(out_dir: str | Path, table: MovieTable, encoder: GenreEncoder, splits: np.ndarray) -> None:
    """``split.csv`` and ``genres.json`` in ``out_dir``: what a run (or 'data split') keeps of its split."""
    save_split(Path(out_dir) / SPLIT_CSV, table.ids, splits)
    encoder.save(Path(out_dir) / GENRES_JSON)


def split_table(table: MovieTable, out_dir: str | Path, **options) -> tuple[GenreEncoder, np.ndarray, pd.DataFrame]:
    """``genre_split`` (``options``: its settings) saved in ``out_dir``; returns (encoder, splits, per-genre
    proportions)."""
    check_not_input([table.source], [Path(out_dir) / SPLIT_CSV, Path(out_dir) / GENRES_JSON])
    encoder, labels, splits = genre_split(table, **options)
    save_genre_split(out_dir, table, encoder, splits)
    return encoder, splits, split_proportions(labels, splits, encoder.classes_)
