"""What a movie table holds: counts per modality and per genre, and the genre policy's verdict."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from moviegenre.data.genres import CONTROL, DEFAULT_DROP_GENRES, DEFAULT_MIN_GENRE_COUNT, check_drop, one_line
from moviegenre.data.table import MovieTable, plural
from moviegenre.errors import DataError

# Characters a genre name should not hold, each kind with how a person's table came to hold it: a list separator other
# than the table's '|' (a list read as one genre); a control character (unseen, or a name that looks like another).
HELD = ((lambda genre: [separator for separator in ",;" if separator in genre],
         "a list split on the wrong separator? give one genre per name ('|'-separated in a CSV)"),
        (lambda genre: list(dict.fromkeys(CONTROL.findall(genre))),
         "a stray character of the cell? it is part of the name, unseen: remove it"))


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
    # Genre names that look like mistakes 'train' takes as they are: 'Sci-Fi' and 'sci-fi', 'Action, Comedy', 'Dra\tma'.
    warnings: list[str]

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def summarize(table: MovieTable, *, min_genre_count: int = DEFAULT_MIN_GENRE_COUNT,
              drop_genres: Sequence[str] = DEFAULT_DROP_GENRES) -> TableSummary:
    poster, text = table.has_poster, table.has_description
    counts = dict(Counter(g for genres in table.genres for g in set(genres)).most_common())
    check_drop(drop_genres, counts)
    return TableSummary(
        n_movies=len(table), n_posters=int(poster.sum()), n_descriptions=int(text.sum()),
        n_both=int((poster & text).sum()), n_neither=int((~poster & ~text).sum()),
        genre_counts=counts,
        kept_genres=sorted(g for g, n in counts.items() if n >= min_genre_count and g not in set(drop_genres)),
        genres_per_movie=dict(sorted(Counter(len(g) for g in table.genres).items())),
        problems=[str(p) for p in table.problems],
        warnings=[str(w) for w in genre_warnings(table.source, counts)],
    )


def genre_warnings(source: object, counts: dict[str, int]) -> list[DataError]:
    """Genre names that look like mistakes, one line each; ``counts``: movies per genre, most frequent first."""
    return _case_variants(source, counts) + _held_characters(source, counts)


def _case_variants(source: object, counts: dict[str, int]) -> list[DataError]:
    """Each group of genres that differ only in case: counted, and learnt, as different genres."""
    spellings: dict[str, list[str]] = {}
    for genre in counts:
        spellings.setdefault(genre.lower(), []).append(genre)
    return [DataError(source, "genres that differ only in case: "
                      + ", ".join(f"'{one_line(genre)}' ({plural(counts[genre], 'movie')})" for genre in group),
                      field="genres", hint="write each genre one way: they are counted, and learnt, as different")
            for group in spellings.values() if len(group) > 1]


def _held_characters(source: object, counts: dict[str, int]) -> list[DataError]:
    """Each genre holding characters of a kind in ``HELD``: one line per genre and kind."""
    return [DataError(source, f"genre '{one_line(genre)}' ({plural(count, 'movie')}) holds "
                      + " and ".join(f"'{one_line(character)}'" for character in held), field="genres", hint=hint)
            for find, hint in HELD for genre, count in counts.items() if (held := find(genre))]
