"""``evaluate``: score a fitted model on a labelled table, with the inputs chosen by ``use``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from moviegenre.data.genres import GenreEncoder, counted
from moviegenre.data.readers import read_table
from moviegenre.data.splits import SPLIT_CSV, load_split, read_split
from moviegenre.data.table import SPLITS, USES, MovieTable, poster_rows
from moviegenre.errors import DataError
from moviegenre.evaluation.metrics import multilabel_metrics
from moviegenre.evaluation.report import UNKNOWN_SHOWN, write_report
from moviegenre.models.base import GenreModel, load_run_model


def score(model: GenreModel, table: MovieTable, use: str = "any", trained: set[str] | None = None
          ) -> tuple[dict, np.ndarray, np.ndarray]:
    """Metrics of ``model`` on ``table`` fed the inputs ``use`` names; also returns labels and probabilities.

    Only the genres the model knows are scored; the labels of the others are counted per genre (``unknown_genres``,
    with ``n_with_unknown_genre`` rows holding them), and rows with none of the known ones are left out (counted in
    ``n_without_known_genre``), as are rows lacking the inputs ``use`` asks for (``n_without_input``).
    ``trained``: the ids the model learnt from, counted among the scored rows (``n_trained_on``).
    """
    given = len(table)
    table = table.with_inputs(use)
    if use == "any":  # a row must have something the model reads
        table = table.subset(model.readable(table))
    without_input = given - len(table)
    unknown = [sorted(set(genres) - set(model.genres_)) for genres in table.genres]
    unknown_counts = dict(Counter(genre for genres in unknown for genre in genres).most_common())
    labels = GenreEncoder.from_classes(model.genres_).transform(table.genres)
    known = labels.sum(1) > 0
    table, labels = table.subset(known), labels[known]
    if not len(table):
        hint = "check that the table has those inputs and genres the model knows"
        if unknown_counts:
            hint = f"the table's genres are not the model's: {counted(unknown_counts, limit=UNKNOWN_SHOWN)}"
        raise DataError(table.source, f"no rows to score with --use {use} and the model's genres", hint=hint)
    probabilities = model.predict_proba(table)
    metrics = multilabel_metrics(labels, probabilities, model.thresholds_, model.genres_)
    metrics["use"] = use
    metrics["n_without_known_genre"] = int((~known).sum())
    metrics["n_without_input"] = without_input
    metrics["unknown_genres"] = unknown_counts
    metrics["n_with_unknown_genre"] = sum(map(bool, unknown))
    if trained:
        metrics["n_trained_on"] = sum(i in trained for i in table.ids)
    return metrics, labels, probabilities


def evaluate(run_dir: str | Path | None, data: str | Path, *, use: str = "any", split: str | None = None,
             report_dir: str | Path | None = None) -> dict:
    """Score the run's model on ``data`` (optionally only the rows of the run's ``split``) and write a report."""
    if use not in USES:
        raise DataError("--use", f"unknown value '{use}'", hint=f"use one of {', '.join(USES)}")
    if split is not None and split not in SPLITS:
        raise DataError("--split", f"unknown split '{split}'", hint=f"use one of {', '.join(SPLITS)}")
    model, run_path = load_run_model(run_dir)
    unread = [kind for kind in ("poster", "description") if use in (kind, "both") and kind not in model.inputs]
    if unread:  # every row would be scored on nothing, or on one input of two
        raise DataError("--use", f"model '{model.name}' does not read a {unread[0]}",
                        hint=f"use --use any, or --use {' or '.join(model.inputs)}")
    whole = read_table(data)
    table = whole.subset(load_split(run_path / SPLIT_CSV, whole) == split) if split else whole
    if split and not len(table):  # not a matter of inputs or genres, which the scoring's own refusal would suggest
        raise DataError(run_path / SPLIT_CSV, f"no {split} rows (the run was trained with none)",
                        hint="score another split, or the whole of another table without --split")
    with poster_rows(whole):
        metrics, labels, probabilities = score(model, table, use, None if split else _trained_on(run_path))
    metrics["model"] = model.name
    metrics["data"] = str(data) + (f" [{split}]" if split else "")
    if report_dir is None:
        report_dir = run_path / "reports" / f"{Path(data).stem}{'-' + split if split else ''}-{use}" \
            if run_dir else Path("reports") / f"{Path(data).stem}-{use}"
    write_report(report_dir, metrics, labels, probabilities, model.genres_,
                 title=f"{model.name} on {metrics['data']} (--use {use})", run_dir=run_path if run_dir else None)
    metrics["report"] = str(report_dir)
    return metrics


def _trained_on(run_path: Path) -> set[str]:
    """The ids of the run's training and validation rows (none where the run kept no split, as the packaged model):
    scored, they flatter it."""
    split = run_path / SPLIT_CSV
    if not split.exists():
        return set()
    return {movie for movie, part in read_split(split).items() if part != "test"}
