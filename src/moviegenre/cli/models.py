"""``moviegenre models | train | evaluate | predict``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from moviegenre.cli.app import app, console, non_empty_path
from moviegenre.cli.data import DROP_GENRES, TABLE_HELP, DropGenres, MinGenreCount, parse_genre_list
from moviegenre.data.genres import DEFAULT_MIN_GENRE_COUNT, counted
from moviegenre.data.splits import TEST_SHARE, VALIDATION_SHARE
from moviegenre.data.table import atomic_write_text, plural
from moviegenre.errors import ConfigError

RunDir = Annotated[Path | None, typer.Argument(parser=non_empty_path,
                                               help="Run folder from 'train' (default: the packaged model).")]


@app.command("models")
def models() -> None:
    """List the registered models."""
    from moviegenre.models.registry import list_models

    specs = list_models()
    width = max(len(spec.name) for spec in specs)
    for spec in specs:
        console.print(f"{spec.name:<{width}}  {spec.summary}", markup=False, highlight=False, soft_wrap=True)


def _split_notes(split: Path, validation: float | None, test: float | None, min_genre_count: int,
                 drop_genres: tuple[str, ...]) -> None:
    """What a split file decides that the command line also asked for: said before the training, not found after."""
    from moviegenre.data.readers import read_json
    from moviegenre.data.splits import GENRES_JSON

    unused = [name for name, value in (("--validation", validation), ("--test", test)) if value is not None]
    if unused:
        console.print(f"note: {split} decides each movie's split: {', '.join(unused)} not used", markup=False,
                      highlight=False)
    policy = split.with_name(GENRES_JSON)
    if not policy.is_file():
        return
    made = read_json(policy)
    if isinstance(made, dict) and (made.get("min_count"), made.get("drop")) != (min_genre_count, list(drop_genres)):
        def kept(count, drop) -> str:
            return f"genres of at least {count} movies" + (f" ({', '.join(map(str, drop))} dropped)" if drop else "")

        console.print(f"note: {policy} beside the split keeps {kept(made.get('min_count'), made.get('drop'))}; this "
                      f"run keeps {kept(min_genre_count, drop_genres)} (give --min-genre-count and --drop-genres as "
                      "there for the same genres)", markup=False, highlight=False)


def trained_line(estimator, run: dict) -> str:
    """What a finished training run says: the model, what it learnt from, its genres and its time (``run``: the
    run's ``run.json``)."""
    refit_rows = getattr(estimator, "refit_rows_", 0)  # a model that learnt from its validation movies too
    cross_fitted = getattr(estimator, "cross_fitted_", False)  # ... and tuned its thresholds on every row, out of fold
    refit = ""
    if refit_rows or cross_fitted:
        learnt_from = plural(refit_rows or run["rows"]["validation"], "validation movie")
        refit = (f" ({'then ' if refit_rows else ''}with its {learnt_from} too"
                 f"{'; thresholds cross-fitted' if cross_fitted else ''})")
    readable = run["train_rows_read"]
    read = f", {readable:,} with a {' or '.join(estimator.inputs)} it reads" if readable < run["rows"]["train"] else ""
    return (f"trained {estimator.name} on {plural(run['rows']['train'], 'movie')}{read}{refit} "
            f"({plural(len(estimator.genres_), 'genre')}) in {run['train_seconds']:.1f} s"
            f"{' since resuming' if run['resumed'] else ''}")


@app.command("train")
def train(data: Annotated[Path, typer.Argument(parser=non_empty_path, help=TABLE_HELP)],
          model: Annotated[str, typer.Option(help="Registered model name (see 'moviegenre models').")] = "fusion-gmu",
          out: Annotated[Path, typer.Option("--out", parser=non_empty_path,
                                            help="Run folder to write.")] = Path("runs/latest"),
          seed: Annotated[int, typer.Option(help="Seed for the split, initialisation and shuffling.")] = 0,
          min_genre_count: MinGenreCount = DEFAULT_MIN_GENRE_COUNT,
          drop_genres: DropGenres = DROP_GENRES,
          device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu",
          devices: Annotated[int, typer.Option(help="Devices per node (>1: DDP).")] = 1,
          num_nodes: Annotated[int, typer.Option(help="Machines (DDP; torchrun-compatible).")] = 1,
          max_epochs: Annotated[int | None, typer.Option(help="Cap on epochs.")] = None,
          split: Annotated[Path | None, typer.Option(parser=non_empty_path,
                                                     help="Reuse a split.csv (same rows for every model).")] = None,
          validation: Annotated[float | None, typer.Option(help="Validation share when splitting.",
                                                           show_default=str(VALIDATION_SHARE))] = None,
          test: Annotated[float | None, typer.Option(help="Test share when splitting.",
                                                     show_default=str(TEST_SHARE))] = None,
          param: Annotated[list[str] | None, typer.Option(help="Model parameter KEY=JSON_VALUE (repeatable).")] = None,
          finetune: Annotated[bool, typer.Option(help="Fine-tune the encoders end to end with the head "
                                                 "(MODEL-finetune; meant for --device cuda).")] = False,
          resume: Annotated[bool, typer.Option(help="Continue from the run's last checkpoint.")] = False,
          progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
          verbose: Annotated[bool, typer.Option("--verbose", help="Also show Lightning's own messages and bars.")]
          = False) -> None:
    """Train a model on DATA and save it in a run folder."""
    from moviegenre.models.registry import finetuned_name
    from moviegenre.training.pipeline import train as train_run

    if finetune:
        model = finetuned_name(model)
    if split is not None:
        _split_notes(split, validation, test, min_genre_count, parse_genre_list(drop_genres))
    options = {"device": device, "devices": devices, "num_nodes": num_nodes, "progress": progress, "verbose": verbose}
    if max_epochs is not None:
        options["max_epochs"] = max_epochs
    estimator = train_run(data, model, out, seed=seed, min_genre_count=min_genre_count,
                          drop_genres=parse_genre_list(drop_genres),
                          validation=VALIDATION_SHARE if validation is None else validation,
                          test=TEST_SHARE if test is None else test,
                          split_file=split, resume=resume, params=_parse_params(param or []), **options)
    from moviegenre.training.lightning import is_main_process  # here: a bad table fails before Lightning loads

    if not is_main_process():  # DDP: rank 0 writes the run and reports it
        return
    run = json.loads((out / "run.json").read_text())
    console.print(f"{trained_line(estimator, run)} -> {out}", markup=False)
    if not run["rows"]["validation"]:  # what validation rows do, left undone without a word
        console.print("note: no validation rows, so every genre's threshold is 0.5, and no network stopped early, "
                      "kept its best epoch or was refitted on them (--validation, "
                      f"{VALIDATION_SHARE} unless given, sets them aside)", markup=False, highlight=False,
                      soft_wrap=True)
    if rare := run["rare_genres"]:
        console.print(f"note: {plural(len(rare), 'genre')} left out, with fewer than {min_genre_count:,} movies: "
                      f"{counted(rare)} (--min-genre-count keeps more)", markup=False, highlight=False, soft_wrap=True)


def _parse_params(items: list[str]) -> dict:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()  # "KEY = VALUE" as the shell passed it
        if not sep or not key:
            raise ConfigError(f"--param '{item}': expected KEY=VALUE")
        if key in params:  # the last would win without a word
            raise ConfigError(f"--param {key} given twice; give it once")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


@app.command("evaluate")
def evaluate(run_dir: Annotated[Path, typer.Argument(parser=non_empty_path, help="Run folder from 'train'.")],
             data: Annotated[Path, typer.Argument(parser=non_empty_path, help="Labelled movie table to score.")],
             json_out: Annotated[Path | None, typer.Option("--json", parser=non_empty_path,
                                                           help="Write the metrics JSON here.")] = None,
             use: Annotated[str, typer.Option(help="Inputs: poster, description, both or any.")] = "any",
             split: Annotated[str | None, typer.Option(help="Score only this split of the run (e.g. test).")] = None,
             report: Annotated[Path | None, typer.Option(parser=non_empty_path,
                                                         help="Report folder (default: inside the run).")] = None
             ) -> None:
    """Score a run on a labelled table: metrics JSON, report.md and plots."""
    from moviegenre.data.table import check_not_input, check_out_folder
    from moviegenre.evaluation.evaluate import evaluate as evaluate_run
    from moviegenre.evaluation.report import SUMMARY_KEYS, macro_coverage, unknown_genres
    from moviegenre.training.pipeline import RUN_FILES

    if json_out:  # the scores would replace the table or the model they came from
        check_not_input([data, *(run_dir / name for name in RUN_FILES)], [json_out], "--json")
    if report:
        check_out_folder(report, "--report")
    metrics = evaluate_run(run_dir, data, use=use, split=split, report_dir=report)
    if json_out:
        atomic_write_text(json_out, json.dumps(metrics, indent=2) + "\n")
    console.print(f"{metrics['model']} on {metrics['data']} --use {use}", markup=False, highlight=False)
    summary = Table()
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for key in SUMMARY_KEYS:
        value = metrics[key]
        summary.add_row(key, f"{value:.4f}" if isinstance(value, float) else f"{value:,}")
    console.print(summary)
    console.print(f"report: {metrics['report']}", markup=False)
    for note in (macro_coverage(metrics), unknown_genres(metrics)):
        if note:
            console.print(f"note: {note}", markup=False, highlight=False)
    if metrics.get("n_trained_on"):
        console.print(f"note: {metrics['n_trained_on']:,} of the {metrics['n']:,} movies scored are rows the run "
                      "trained or validated on, which flatter it: give --split test for held-out scores",
                      markup=False, highlight=False)


@app.command("predict")
def predict(run_dir: RunDir = None,
            poster: Annotated[Path | None, typer.Option(parser=non_empty_path, help="Poster image file.")] = None,
            description: Annotated[str | None, typer.Option(help="Short plot description.")] = None,
            title: Annotated[str | None, typer.Option(help="The movie's title (optional; read beside the poster "
                                                           "and/or description by models that read titles).")] = None,
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Predict one movie's genres from a poster, a description, or both (and, optionally, its title)."""
    from moviegenre.serving.predictor import Predictor, displayed

    if "torch" not in sys.modules:  # torch reads it when it loads; a user's own setting wins
        # One movie is too small to share out over threads: on a busy machine they mostly wait for each
        # other (the packaged model: 2.5 s less CPU and wall time with one).
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    predictor = Predictor(run_dir)
    result = predictor.predict(poster=poster, description=description, title=title)
    if as_json:
        console.print_json(json.dumps({**result, "model_version": predictor.version}))  # as the service's
        return
    console.print(f"genres: {escape(', '.join(result['genres'])) or '(none above threshold)'}   "
                  f"[dim](model {escape(result['model'])}; used " +
                  ", ".join(k for k, v in result["used"].items() if v) + ")[/]")
    for genre, probability in list(result["probabilities"].items())[:8]:
        threshold = result["thresholds"][genre]
        bar = "#" * round(probability * 30)
        mark = "*" if genre in result["genres"] else " "
        console.print(f" {mark} {genre:<12} {displayed(probability, threshold, 3):6.3f}  {bar:<30} "
                      f"(threshold {threshold:.3f})", markup=False, highlight=False)
