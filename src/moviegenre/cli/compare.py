"""``moviegenre compare``: poster (and blurb) variants side by side, ranked for the intended genres."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from moviegenre.cli.app import app, console, err_console, non_empty_path

# serving/compare.py's SCORE in short: importing it would load PIL and the predictor before --help answers.
SCORE_HELP = ("Ranks by: mean over the intended genres of (probability - threshold), minus the largest "
              "(probability - threshold) among the other genres.")


@app.command("compare", help="Compare poster variants (and blurb variants): each one's genres side by side, "
                             "ranked with --genre by how strongly they say the intended genres. " + SCORE_HELP)
def compare(posters: Annotated[list[Path], typer.Argument(parser=non_empty_path,
                                                          help="Poster variants (JPEG, PNG, WebP or GIF).",
                                                          metavar="POSTER", show_default=False)],
            description: Annotated[list[str] | None, typer.Option(
                help="Blurb (repeatable: several are compared, each with every poster).")] = None,
            genre: Annotated[list[str] | None, typer.Option(
                help="An intended genre (repeatable: the intended set). " + SCORE_HELP)] = None,
            title: Annotated[str | None, typer.Option(
                help="The movie's title (optional), read with every variant as 'predict --title' reads it.")]
            = None,
            run: Annotated[Path | None, typer.Option(parser=non_empty_path,
                                                     help="Run folder from 'train' (default: the packaged model).")]
            = None,
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
            out: Annotated[Path | None, typer.Option(parser=non_empty_path,
                help="Also write compare.md and contact-sheet.png (heat maps of the intended genres) here.")] = None,
            progress: Annotated[bool, typer.Option(help="Show the embedding progress bars.")] = True) -> None:
    from moviegenre.data.genres import resolve_genres
    from moviegenre.data.table import check_not_input, check_out_folder
    from moviegenre.errors import utf8_text
    from moviegenre.models.base import model_meta, run_model_dir
    from moviegenre.serving.compare import REPORT, variant_texts

    # Every argument is checked before the model loads and the variants are scored: a mistake is reported at once.
    resolve_genres(genre or [], model_meta(run_model_dir(run))["genres"])
    variant_texts(description)
    utf8_text(title, "title")
    if out is not None:
        check_out_folder(out)
        check_not_input(posters, [out / name for name in REPORT])

    from moviegenre.serving.compare import compare as compare_variants
    from moviegenre.serving.compare import write_report
    from moviegenre.serving.predictor import Predictor

    predictor = Predictor(run)
    result = compare_variants(predictor, posters, description, genre, title=title, progress=progress)
    for error in result["errors"]:
        err_console.print(f"skipped: {error['error']}", markup=False, highlight=False, soft_wrap=True)
    if out is not None:
        written = write_report(result, out, predictor)
        err_console.print(f"report: {', '.join(map(str, written))}", markup=False, highlight=False)
    if as_json:
        console.print_json(json.dumps(result))
        return
    _print_table(result)


def _print_table(result: dict) -> None:
    from moviegenre.serving.predictor import displayed  # loaded by the comparison already

    variants, intended = result["variants"], result["intended"]
    # Side by side: the intended genres, then the genres most probable across the variants.
    best = sorted(result["thresholds"], key=lambda g: -max(v["probabilities"][g] for v in variants))
    columns = intended + [g for g in best if g not in intended][:max(0, 6 - len(intended))]
    title = (f"ranked for {escape(', '.join(intended))} (score: mean intended p - threshold, minus the strongest "
             "other's)" if intended else "variants (* = at or above the genre's threshold)")
    table = Table(title=title, title_justify="left")
    for name in ["#", "poster", *(["description"] if any(v["description"] for v in variants) else []),
                 *(["score"] if intended else []), *columns, *(["strongest other"] if intended else [])]:
        number = name in columns or name in ("#", "score")
        # A number is never cut ("+0.…" said nothing); the blurb gives way first.
        table.add_column(escape(name), justify="right" if number else "left", no_wrap=number,
                         min_width=6 if number and name != "#" else None,
                         max_width=24 if name == "description" else None,
                         overflow="fold" if name == "poster" else "ellipsis")
    names = [Path(v["poster"]).name for v in variants]
    if len(set(names)) < len({v["poster"] for v in variants}):  # same names in different folders
        names = [v["poster"] for v in variants]
    for place, index in enumerate(result["ranking"], 1):
        variant = variants[index]
        row = [str(place), escape(names[index])]
        if any(v["description"] for v in variants):
            row.append(escape((variant["description"] or "")[:40]))
        if intended:
            row.append(f"{result['scores'][index]:+.3f}")
        row += [f"{displayed(variant['probabilities'][g], result['thresholds'][g], 3):.3f}"
                + ("*" if g in variant["genres"] else " ") for g in columns]
        if intended:
            other = variant["strongest_unintended"]
            row.append(f"{escape(other)} {variant['probabilities'][other]:.3f}" if other else "-")
        table.add_row(*row)
    # Piped or captured, a console assumes 80 columns: a file has room for the whole table.
    (console if console.is_terminal else Console(width=max(console.width, 160))).print(table)
