"""Genre policy and labels: which genres a model learns, multi-label binarization, class weights."""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from moviegenre.data.readers import read_json
from moviegenre.data.table import atomic_write_text
from moviegenre.errors import ConfigError, DataError

DEFAULT_MIN_GENRE_COUNT = 100
# 'Short' names a running time, not a genre (the original design dropped it too).
DEFAULT_DROP_GENRES = ("Short",)
# What ends or garbles a line a genre is printed on, yet may hide in a name read from a quoted cell: C0 and C1 controls
# (tab, line feed, carriage return, escape, ...), DEL, and Unicode's line and paragraph separators.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class GenreEncoder:
    """Learns the genre vocabulary from training labels and turns genre lists into 0/1 matrices.

    Genres seen fewer than ``min_count`` times, and those in ``drop``, are left out; the learned
    vocabulary ``classes_`` is sorted, so it is stable across runs, and is saved with every model.
    """

    def __init__(self, min_count: int = DEFAULT_MIN_GENRE_COUNT, drop: Sequence[str] = DEFAULT_DROP_GENRES):
        self.min_count = min_count
        self.drop = drop

    def fit(self, genre_lists: Sequence[Sequence[str]]) -> GenreEncoder:
        counts = Counter(g for genres in genre_lists for g in set(genres))
        check_drop(self.drop, counts)
        dropped = set(self.drop)
        self.classes_ = sorted(g for g, n in counts.items() if n >= self.min_count and g not in dropped)
        if not self.classes_:
            raise DataError("labels", f"no genre has at least {self.min_count} movies",
                            hint="lower --min-genre-count or give more data")
        self.counts_ = np.array([counts[g] for g in self.classes_], dtype=np.int64)
        self.n_samples_ = len(genre_lists)
        # Left out for want of movies (not by name): on a small table the default minimum leaves few genres.
        self.rare_ = {g: n for g, n in counts.most_common() if n < self.min_count and g not in dropped}
        self.dropped_ = {g: n for g, n in counts.most_common() if g in dropped}  # left out by name, where present
        return self

    @classmethod
    def from_classes(cls, classes: Sequence[str], counts: Sequence[int] | None = None,
                     n_samples: int | None = None) -> GenreEncoder:
        encoder = cls(min_count=0, drop=())
        encoder.classes_ = list(classes)
        encoder.counts_ = np.asarray(counts if counts is not None else [0] * len(classes), dtype=np.int64)
        encoder.n_samples_ = n_samples or 0
        encoder.rare_, encoder.dropped_ = {}, {}
        return encoder

    def transform(self, genre_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """(n_movies, n_genres) float32 0/1 matrix; genres outside the vocabulary are ignored."""
        index = {g: i for i, g in enumerate(self.classes_)}
        matrix = np.zeros((len(genre_lists), len(self.classes_)), dtype=np.float32)
        for row, genres in enumerate(genre_lists):
            for genre in genres:
                if genre in index:
                    matrix[row, index[genre]] = 1.0
        return matrix

    def inverse_transform(self, matrix: np.ndarray) -> list[list[str]]:
        return [[self.classes_[i] for i in np.flatnonzero(row)] for row in np.asarray(matrix) > 0.5]

    def class_weights(self) -> np.ndarray:
        """``W_i = n_max / n_i`` over the table the encoder was fitted on (see :func:`class_weights`)."""
        return class_weights(self.counts_)

    def pos_weight(self) -> np.ndarray:
        """``n_negative / n_positive`` over the table the encoder was fitted on (see :func:`pos_weight`)."""
        return pos_weight(self.counts_, self.n_samples_)

    # -- persistence ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"genres": list(self.classes_), "counts": self.counts_.tolist(), "n_samples": self.n_samples_,
                "min_count": self.min_count, "drop": list(self.drop)}

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> GenreEncoder:
        try:
            data = read_json(path)
            encoder = cls.from_classes(data["genres"], data.get("counts"), data.get("n_samples"))
        except DataError as error:
            raise ConfigError(f"{path}: not a genre vocabulary file ({error.problem})") from None
        except (ValueError, KeyError, TypeError, AttributeError) as error:  # Type/Attr: JSON not a dict
            raise ConfigError(f"{path}: not a genre vocabulary file ({error})") from None
        encoder.min_count, encoder.drop = data.get("min_count", 0), tuple(data.get("drop", ()))
        return encoder


def one_line(genre: str) -> str:
    """``genre`` as a line of text shows it: its control characters escaped as Python writes them (``Dra\\tma``)."""
    return CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), genre)


def counted(counts: dict[str, int], name=one_line, limit: int | None = None) -> str:
    """Genres with their movie counts, as notes and reports list those left out: ``Mystery (78), Sci-Fi (65)``;
    ``name`` writes a genre (markdown escapes it; by default, ``one_line``); past ``limit`` genres, how many more."""
    shown = list(counts.items())[:limit]
    more = f" and {len(counts) - len(shown):,} more" if len(shown) < len(counts) else ""
    return ", ".join(f"{name(genre)} ({count:,})" for genre, count in shown) + more


def class_weights(counts: np.ndarray) -> np.ndarray:
    """``W_i = n_max / n_i`` from per-genre positive counts: the original design's weights (rarest weighs most)."""
    counts = np.maximum(counts, 1)
    return (counts.max() / counts).astype(np.float32)


def pos_weight(counts: np.ndarray, n: int) -> np.ndarray:
    """BCE ``pos_weight = n_negative / n_positive`` per genre, from positive counts among ``n`` movies."""
    positives = np.maximum(counts, 1)
    return ((n - positives) / positives).astype(np.float32)


def check_drop(drop: Sequence[str], genres: Collection[str]) -> None:
    """Refuse a name in ``drop`` that is none of ``genres`` (the table's): 'horror' or 'Horrer' would drop nothing,
    unseen. The default's names are not refused: the default applies to every table, with such movies or without."""
    for name in drop:
        if name in genres or name in DEFAULT_DROP_GENRES:
            continue
        # Every spelling the table has ('Drama' and 'drama' for 'DRAMA'): either may be the one meant.
        meant = sorted(genre for genre in genres if genre.lower() == name.lower()) or \
            difflib.get_close_matches(name, genres, n=1)
        hint = ("did you mean " + " or ".join(f"'{shown(genre)}'" for genre in meant) + "?") if meant else \
            "give it as the table spells it ('moviegenre data inspect' lists them)"
        raise DataError("--drop-genres", f"no movie has the genre '{shown(name)}'", hint=hint)


def shown(name: str) -> str:
    """A name as an error echoes it: whole, but not 1 MB of it, and on the error's one line."""
    return one_line(name if len(name) <= 60 else name[:60] + "…")


def resolve_genres(names: Sequence[str], known: Sequence[str], where: str = "--genre") -> list[str]:
    """The model's spelling of each name (case-insensitive), in order, without repeats; one-line error otherwise."""
    lookup = {genre.lower(): genre for genre in known}
    resolved = []
    for name in names:
        genre = lookup.get(name.strip().lower())
        if genre is None:
            raise DataError(where, f"unknown genre '{shown(name)}'", hint=f"known: {', '.join(known)}")
        if genre not in resolved:
            resolved.append(genre)
    return resolved
