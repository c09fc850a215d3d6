"""``moviegenre audit``: rank a catalogue's suspected genre-label problems from out-of-fold predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from moviegenre.cli.app import app, console, err_console, non_empty_path
from moviegenre.cli.data import DROP_GENRES, DropGenres, MinGenreCount, parse_genre_list
from moviegenre.data.genres import DEFAULT_MIN_GENRE_COUNT


@app.command("audit")
def audit(data: Annotated[Path, typer.Argument(parser=non_empty_path,
                                               help="Labelled movie table: any table 'train' reads.")],
          out: Annotated[Path, typer.Option("--out", parser=non_empty_path,
                                            help="Folder for issues.csv, movies.csv, report.md "
                                            "(and the finished folds, for resuming).")],
          model: Annotated[str, typer.Option(help="Registered model (one ensemble member per fold).")] = "fusion-gmu",
          folds: Annotated[int, typer.Option(help="Folds: every movie is scored by the model of the others.")] = 5,
          seed: Annotated[int, typer.Option(help="Seed for the folds, initialisation and shuffling.")] = 0,
          min_genre_count: MinGenreCount = DEFAULT_MIN_GENRE_COUNT,
          drop_genres: DropGenres = DROP_GENRES,
          max_epochs: Annotated[int | None, typer.Option(help="Cap on epochs per fold.")] = None,
          device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu") -> None:
    """Find the movies whose genre labels are probably wrong or missing; a killed audit continues."""
    from moviegenre.evaluation.audit import audit as audit_table

    options = {"device": device, **({"max_epochs": max_epochs} if max_epochs is not None else {})}
    issues = audit_table(data, out, model, folds, seed, min_genre_count=min_genre_count,
                         drop_genres=parse_genre_list(drop_genres),
                         echo=lambda line: err_console.print(line, markup=False, highlight=False, soft_wrap=True),
                         **options)
    console.print(f"{len(issues):,} suspected label problems -> {out / 'issues.csv'} (report: {out / 'report.md'})",
                  markup=False, highlight=False, soft_wrap=True)
