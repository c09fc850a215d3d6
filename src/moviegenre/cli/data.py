"""``moviegenre data inspect`` and ``moviegenre data split``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from moviegenre.cli.app import console, data_app, non_empty_path
from moviegenre.data.genres import DEFAULT_DROP_GENRES, DEFAULT_MIN_GENRE_COUNT, one_line, shown
from moviegenre.data.readers import read_table
from moviegenre.data.splits import TEST_SHARE, VALIDATION_SHARE, split_table
from moviegenre.data.summary import TableSummary, summarize
from moviegenre.data.table import plural
from moviegenre.errors import DataError

# The formats read_table reads (README, "Readable tables").
TABLE_HELP = "Movie table: project CSV, Parquet, text-only CSV, one-hot poster CSV or MM-IMDb folder."
MinGenreCount = Annotated[int, typer.Option(min=0, help="Drop genres with fewer movies than this.")]
DropGenres = Annotated[str, typer.Option(help="Comma-separated genres to drop ('' for none; quote a name that holds "
                                                "a comma, as in a CSV: '\"Sci, Fi\",Short').")]
DROP_GENRES = ",".join(DEFAULT_DROP_GENRES)


def parse_genre_list(text: str) -> tuple[str, ...]:
    """The names of a comma-separated list, read as a CSV row: a name in double quotes may hold a comma."""
    try:
        names = next(csv.reader([text], skipinitialspace=True, strict=True), [])
    except csv.Error:
        raise DataError("--drop-genres", f"cannot read '{shown(text)}' as a list",
                        hint="close each quote right before a comma or the end: '\"Sci, Fi\",Short'") from None
    return tuple(name.strip() for name in names if name.strip())


@data_app.command("inspect")
def inspect(path: Annotated[Path, typer.Argument(parser=non_empty_path, help=TABLE_HELP)],
            min_genre_count: MinGenreCount = DEFAULT_MIN_GENRE_COUNT,
            drop_genres: DropGenres = DROP_GENRES,
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
            images: Annotated[bool, typer.Option("--images", help="Also decode every poster (slow) and report "
                                                                  "those that are not usable images.")] = False,
            max_problems: Annotated[int, typer.Option(help="How many problems (and warnings) to list.", min=0)] = 20,
            strict: Annotated[bool, typer.Option("--strict", help="Exit with code 1 where there is a problem (a "
                                                                  "pipeline's check before training).")] = False,
            ) -> None:
    """Counts per modality and genre, every problem 'train' would meet, in row order, and genre names that look like
    mistakes 'train' takes as they are (warnings: --strict does not count them)."""
    table = read_table(path, strict=False, labelled=None, images=images, usable=True)
    summary = summarize(table, min_genre_count=min_genre_count, drop_genres=parse_genre_list(drop_genres))
    if as_json:
        console.print_json(json.dumps(summary.to_dict()))
    else:
        _print_summary(path, summary, min_genre_count, drop_genres, max_problems)
    if strict and summary.problems:
        raise typer.Exit(1)


def _print_summary(path: Path, summary: TableSummary, min_genre_count: int, drop_genres: str, max_problems: int) -> None:
    n = summary.n_movies
    console.print(f"{path}: {plural(n, 'movie')}", markup=False, highlight=False, soft_wrap=True)
    modality = Table()
    modality.add_column("input")
    modality.add_column("movies", justify="right")
    modality.add_column("share", justify="right")
    for name, count in [("poster", summary.n_posters), ("description", summary.n_descriptions),
                        ("both", summary.n_both), ("neither", summary.n_neither)]:
        modality.add_row(name, f"{count:,}", f"{100 * count / max(n, 1):.1f}%")
    console.print(modality)
    console.print(f"genres: {len(summary.kept_genres)} kept (>= {min_genre_count} movies, not in '{drop_genres}')",
                  markup=False, highlight=False, soft_wrap=True)
    genres = Table()
    genres.add_column("genre")
    genres.add_column("movies", justify="right")
    genres.add_column("share", justify="right")
    genres.add_column("kept")
    for genre, count in summary.genre_counts.items():
        genres.add_row(escape(one_line(genre)), f"{count:,}", f"{100 * count / max(n, 1):.1f}%",
                       "yes" if genre in summary.kept_genres else "no")
    console.print(genres)
    console.print("genres per movie: " + ", ".join(f"{k}: {v:,}" for k, v in summary.genres_per_movie.items()))
    _print_findings(summary.warnings, "warning", "bold yellow", max_problems)
    _print_findings(summary.problems, "problem", "bold red", max_problems)
    if not summary.problems:
        console.print("no problems found")


def _print_findings(findings: list[str], noun: str, style: str, max_problems: int) -> None:
    if not findings:
        return
    console.print(f"[{style}]{plural(len(findings), noun)}[/]")
    for finding in findings[:max_problems]:
        console.print(f"  {finding}", markup=False, highlight=False, soft_wrap=True)  # one line each
    if len(findings) > max_problems:
        console.print(f"  ... and {plural(len(findings) - max_problems, 'more ' + noun)} (--max-problems lists more)",
                      markup=False, highlight=False)


@data_app.command("split")
def split(path: Annotated[Path, typer.Argument(parser=non_empty_path, help=TABLE_HELP)],
          out: Annotated[Path, typer.Option("--out", parser=non_empty_path,
                                            help="Folder for split.csv and genres.json.")],
          seed: Annotated[int | None, typer.Option(help="Random seed.", show_default="0")] = None,
          validation: Annotated[float | None, typer.Option(help="Validation share.",
                                                           show_default=str(VALIDATION_SHARE))] = None,
          test: Annotated[float | None, typer.Option(help="Test share.", show_default=str(TEST_SHARE))] = None,
          min_genre_count: MinGenreCount = DEFAULT_MIN_GENRE_COUNT,
          drop_genres: DropGenres = DROP_GENRES) -> None:
    """Seeded multi-label stratified train/validation/test split (or the table's own split.json)."""
    table = read_table(path)
    unused = [name for name, value in (("--seed", seed), ("--validation", validation), ("--test", test))
              if value is not None]
    if unused and table.split is not None and (table.split != "").any():
        console.print(f"note: {path} gives each movie's split (used as is): {', '.join(unused)} not used",
                      markup=False, highlight=False)
    _, splits, proportions = split_table(
        table, out, min_genre_count=min_genre_count, drop_genres=parse_genre_list(drop_genres),
        validation=VALIDATION_SHARE if validation is None else validation,
        test=TEST_SHARE if test is None else test, seed=seed or 0)
    sizes = {name: int((splits == name).sum()) for name in ("train", "validation", "test")}
    console.print(f"{len(table):,} movies -> " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()), highlight=False)
    report = Table()
    for column in proportions.columns:
        report.add_column(column, justify="left" if column == "genre" else "right")
    for row in proportions.itertuples(index=False):
        report.add_row(escape(one_line(row[0])), *(f"{v:.1f}" for v in row[1:]))
    console.print(report)
    console.print(f"largest difference from the whole: {proportions['max diff (pp)'].max():.2f} percentage points")
    console.print(f"wrote {out / 'split.csv'} and {out / 'genres.json'}", markup=False)
