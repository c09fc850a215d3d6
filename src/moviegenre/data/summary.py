"""What a movie table holds: counts per modality and per genre, and the genre policy's verdict."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from moviegenre.data.genres import DEFAULT_DROP_GENRES, DEFAULT_MIN_GENRE_COUNT, check_drop
from moviegenre.data.table import MovieTable


@dataclass
class TableSummary:
    n_movies: int
    n_posters: int
    n_descriptions: int
    n_both: int
    n_neither: int
    genre_counts: dict[str, int]  # most frequent first
    kept_genres: list[str]  # what the genre policy keeps
    genres_per_movie: dict[int, int]
    problems: list[str]

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def summarize(table: MovieTable, *, min_genre_count: int = DEFAULT_MIN_GENRE_COUNT,
              drop_genres: Sequence[str] = DEFAULT_DROP_GENRES) -> TableSummary:
    poster, text = table.has_poster, table.has_description
    counts = Counter(g for genres in table.genres for g in set(genres))
    check_drop(drop_genres, counts)
    return TableSummary(
        n_movies=len(table), n_posters=int(poster.sum()), n_descriptions=int(text.sum()),
        n_both=int((poster & text).sum()), n_neither=int((~poster & ~text).sum()),
        genre_counts=dict(counts.most_common()),
        kept_genres=sorted(g for g, n in counts.items() if n >= min_genre_count and g not in set(drop_genres)),
        genres_per_movie=dict(sorted(Counter(len(g) for g in table.genres).items())),
        problems=[str(p) for p in table.problems],
    )
