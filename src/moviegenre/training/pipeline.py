"""``train``: from a movie table to a run folder (split, genre vocabulary, fitted model, learning curves)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from moviegenre.data.genres import DEFAULT_DROP_GENRES, DEFAULT_MIN_GENRE_COUNT
from moviegenre.data.readers import read_json, read_table
from moviegenre.data.splits import (
    GENRES_JSON,
    SPLIT_CSV,
    TEST_SHARE,
    VALIDATION_SHARE,
    check_seed,
    genre_split,
    save_genre_split,
)
from moviegenre.data.table import atomic_write_text, check_not_input, check_out_folder, poster_rows
from moviegenre.errors import ConfigError
from moviegenre.models.base import MODEL_JSON, MODEL_WEIGHTS, GenreModel, check_params
from moviegenre.models.registry import check_param_names, create_model
from moviegenre.training.config import check_options, configure

RUN_JSON = "run.json"
RESUME_JSON = "resume.json"  # what a run trains, for a resumed run to match
RUN_FILES = (MODEL_JSON, MODEL_WEIGHTS, GENRES_JSON, SPLIT_CSV, RUN_JSON)


def train(data: str | Path, model: str, out: str | Path, *, seed: int = 0,
          min_genre_count: int = DEFAULT_MIN_GENRE_COUNT, drop_genres: tuple[str, ...] = DEFAULT_DROP_GENRES,
          validation: float = VALIDATION_SHARE, test: float = TEST_SHARE, split_file: str | Path | None = None, resume: bool = False,
          params: dict | None = None, **train_options) -> GenreModel:
    """Train ``model`` on ``data`` and save everything a later ``evaluate``/``predict`` needs in ``out``.

    The table is split (seeded, stratified; or ``split_file``; or the table's own split) into
    train/validation/test; validation rows drive early stopping and threshold tuning, test rows are kept
    out for ``evaluate --split test``. ``train_options`` are :class:`TrainConfig` fields (device, ...).
    """
    started = time.perf_counter()
    out = Path(out)
    check_out_folder(out)
    if resume:  # before the table is read or a model built: a mistyped --out would only train afresh, unseen
        check_resumable(out)
    check_not_input([data], [out / name for name in (*RUN_FILES, RESUME_JSON)])
    check_options(train_options)
    check_seed(seed)
    table = read_table(data, usable=True)  # as 'data inspect' checks it
    # Built (and its parameters checked) after the table is read: a bad table is reported without loading torch.
    check_param_names(model, params or {}, "--param")
    estimator = create_model(model, **(params or {}))
    check_params(estimator, "--param")
    configure(estimator, seed, train_options)
    encoder, labels, splits = genre_split(table, min_genre_count=min_genre_count, drop_genres=drop_genres,
                                          validation=validation, test=test, seed=seed, split_file=split_file)
    out.mkdir(parents=True, exist_ok=True)
    check_same_job(out, {"model": model, "params": params or {}, "data": os.path.realpath(data), "seed": seed,
                         "min_genre_count": min_genre_count, "drop_genres": list(drop_genres),
                         "split": hashlib.sha256("\n".join(f"{i},{s}" for i, s in zip(table.ids, splits))
                                                 .encode()).hexdigest()}, resume)
    # A movie none of whose genres survived the genre policy teaches nothing: leave it out of fitting.
    labelled = labels.sum(1) > 0
    train_rows, val_rows = (splits == "train") & labelled, (splits == "validation") & labelled
    training = table.subset(train_rows)
    with poster_rows(table):
        estimator.fit(training, labels[train_rows],
                      validation=(table.subset(val_rows), labels[val_rows]) if val_rows.any() else None,
                      genres=encoder.classes_, run_dir=out, resume=resume)
    from moviegenre.training.lightning import is_main_process  # Lightning: only once there is a table to train on

    if not is_main_process():  # DDP: every process holds the same model; rank 0 writes it
        return estimator
    # Only now, with a model to go with them: a fit that fails leaves an earlier run in ``out`` whole. The earlier
    # run's files go first (``save`` removes model.json itself), so that an interrupted save leaves a plainly
    # incomplete run, never this model beside the earlier split, whose test rows it may have trained on.
    for name in (RUN_JSON, SPLIT_CSV):
        (out / name).unlink(missing_ok=True)
    estimator.save(out)
    save_genre_split(out, table, encoder, splits)
    run = {"model": model, "data": os.path.realpath(data), "seed": seed, "min_genre_count": min_genre_count,
           "drop_genres": list(drop_genres), "genres": encoder.classes_, "rare_genres": encoder.rare_,
           "rows": {name: int(((splits == name) & labelled).sum()) for name in ("train", "validation", "test")},
           "rows_without_kept_genre": int((~labelled).sum()),
           # Of the training rows, those with an input the model reads: it learns nothing from the others.
           "train_rows_read": int(estimator.readable(training).sum()),
           "train_seconds": round(time.perf_counter() - started, 2),
           "resumed": resume,  # then train_seconds is this resume's: the interrupted part's time is not known
           # What the networks were trained with (a baseline's fixed design included); None without networks.
           "config": asdict(estimator.train_config()) if hasattr(estimator, "train_config") else None}
    atomic_write_text(out / RUN_JSON, json.dumps(run, indent=2) + "\n")
    return estimator


def check_resumable(out: Path) -> None:
    """A run to resume is in ``out``: the job a fresh run notes first (``RESUME_JSON``), or a checkpoint (a run
    started before runs noted their job). Else ``--resume`` names the wrong folder, and training afresh there would
    hide it."""
    if not (out / RESUME_JSON).exists() and not (out / "checkpoints" / "last.ckpt").exists():
        raise ConfigError(f"nothing to resume: no earlier run in {out} ({out / RESUME_JSON} missing); check the "
                          "folder, or train without --resume")


def check_same_job(out: Path, job: dict, resume: bool) -> None:
    """A fresh run notes what it trains (``RESUME_JSON``); a resumed one must train the same: resumed with another
    seed, table or genre policy, its checkpoint's network would go on learning from rows the new split holds out
    for testing, and the run would report scores on movies it trained on."""
    path, text = out / RESUME_JSON, json.dumps(job, indent=2, default=str) + "\n"
    job = json.loads(text)  # as it reads back (a tuple as a list)
    # Checked with a checkpoint or without (a model with no network, a run cut short before its first): a 'resume'
    # that trains another job is a fresh run under the wrong name.
    if resume and path.exists():
        earlier = read_json(path, hint="delete it, or train afresh without --resume")
        changed = [key for key in job if not isinstance(earlier, dict) or earlier.get(key) != job[key]]
        if changed:
            raise ConfigError(f"--resume: {out} was started with other {', '.join(changed)} than now; give the same "
                              "table and options, or train afresh without --resume")
        return
    atomic_write_text(path, text)
