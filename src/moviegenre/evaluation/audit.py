"""``audit``: which genre labels of a catalogue should a person look at first?

Every movie gets genre probabilities from a model that never saw it: the table is cut into K stratified
folds and, for each fold, a model is trained on the other folds (early stopping and thresholds on a
validation slice of those folds only) and scores the held-out fold. A second, label-aware stage then
estimates how likely each genre is given those probabilities AND the movie's other labels (one logistic
regression per genre, cross-fitted on the same folds): a planted or mistyped genre is often an odd one out
among the others, and catalogues have habits (IMDb gives at most three genres). cleanlab's multi-label
label-quality scores rank every (movie, genre) label against these probabilities: ``missing`` (a genre the
movie lacks but probably has) and ``extra`` (a label it probably should not have); an issue is a label more
likely wrong than right. ``benchmarks/audit_noise.py`` measures the choices.

Each finished fold is saved as plain arrays (``DIR/folds/fold-<k>.npz``, written atomically), so a killed
audit started again with the same arguments trains only the folds that are left; other arguments or another
table are refused rather than mixed in.

Only the genres the table has ``min_genre_count`` movies of (and not in ``drop_genres``) are audited: a genre left
out raises no issue, which must not read as clean labels, so the terminal (:func:`genre_notes`) and ``report.md``
name the audited genres and those left out, with their counts. ``movies.csv`` has a row per movie of the table;
``not_audited`` says why a movie has no ``label_quality`` (``no input the model reads``: no poster or description
the model takes) and is empty for the others, whose scores concern the audited genres only.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from moviegenre.data.genres import DEFAULT_DROP_GENRES, DEFAULT_MIN_GENRE_COUNT, GenreEncoder, counted, one_line
from moviegenre.data.readers import read_json, read_table
from moviegenre.data.splits import check_seed, iterative_stratification
from moviegenre.data.table import (
    GENRE_SEPARATOR,
    MovieTable,
    atomic_write_bytes,
    atomic_write_text,
    check_not_input,
    check_out_folder,
    plural,
    poster_rows,
)
from moviegenre.errors import ConfigError, DataError
from moviegenre.evaluation.metrics import micro_f1
from moviegenre.features.cache import file_keys
from moviegenre.models.base import GenreModel, check_params
from moviegenre.models.registry import check_model_name, create_model
from moviegenre.training.config import check_options, configure

FOLDS_DIR = "folds"
STATE_JSON = "audit.json"
# ``probability`` is the label-aware one the score comes from; ``model_probability`` the poster/description model's
# own, and ``model_confirms`` whether that model alone, at its fold's thresholds, would raise the same issue.
ISSUE_COLUMNS = ("imdb_id", "title", "genre", "kind", "score", "probability", "model_probability", "model_confirms",
                 "labels", "inputs")
MOVIE_COLUMNS = ("imdb_id", "label_quality", "suggested_genres", "not_audited")
UNREAD = "no input the model reads"  # ``not_audited`` of a movie the model has nothing to score from
PLOTS = ("issues_per_genre.png", "score_distribution.png", "top_suspects.png")  # drawn by audit_report
OUTPUTS = ("issues.csv", "movies.csv", "report.md", *PLOTS)
# One ensemble member per fold: K folds already cost K trainings, and the ranking needs every movie's
# probabilities more than it needs each of them a little less noisy.
AUDIT_PARAMS = {"ensemble": 1}
INNER_VALIDATION = 0.1
# cleanlab's per-class label-quality method, and whether it corrects each genre's probabilities for how
# common the genre is: on the shared movies with 5% planted errors the correction found 4% of them in the
# top 2K suspects, without it 32% (from the model's probabilities) and 42% (from the label-aware ones).
METHOD = "self_confidence"
ADJUST = False
CONTEXT_C = 1.0  # inverse regularisation of the label-aware stage
# Its share of the final log-odds; the poster/description model keeps the rest, so that a label the model
# supports is not flagged only for being one too many (same planted-error score, saner top suspects).
CONTEXT_WEIGHT = 0.75
# Out of fold, a model whose micro-F1 beats naming every movie the most common genres by less than this says little
# of any one label. Every audit flags many labels (a label more likely wrong than right by the model is an issue):
# tfidf-logreg flagged 65% of the labels of the 9,052 shared movies with a description (micro-F1 0.542 out of fold,
# the common genres 0.395) and 77% on 300 of them (0.453 against 0.425), so the share flagged cannot tell the two.
MIN_LIFT = 0.05


def audit(table: str | Path | MovieTable, out_dir: str | Path, model: str = "fusion-gmu", folds: int = 5,
          seed: int = 0, *, min_genre_count: int = DEFAULT_MIN_GENRE_COUNT,
          drop_genres: tuple[str, ...] = DEFAULT_DROP_GENRES, params: dict | None = None,
          echo: Callable[[str], None] | None = None, **train_options) -> pd.DataFrame:
    """Rank the suspected label problems of ``table``; write ``issues.csv``, ``movies.csv``, ``report.md``.

    ``model`` is any registered model (``params`` its parameters; an ensemble model gets one member unless
    ``params`` says otherwise); ``train_options`` are :class:`TrainConfig` fields. ``echo`` receives the
    :func:`genre_notes` lines, one line per fold, then :func:`model_quality`'s line (and its warning,
    prefixed 'warning: '). Returns the issues, most suspicious first (the rows of ``issues.csv``).
    """
    from moviegenre.evaluation.audit_report import write_audit_report

    if folds < 2:
        raise ConfigError(f"--folds {folds}: give at least 2 folds")
    check_seed(seed)  # before the table is read
    check_model_name(model)
    check_options(train_options)
    out_dir = Path(out_dir)
    check_out_folder(out_dir)
    movies = table if isinstance(table, MovieTable) else read_table(table)
    # The posters are inputs too (the contact sheet's); those of a table built in memory may be bytes, not files.
    check_not_input([movies.source, *(poster for poster in movies.posters if isinstance(poster, str))],
                    [out_dir / name for name in OUTPUTS])
    encoder = GenreEncoder(min_genre_count, drop_genres).fit(movies.genres)
    labels = encoder.transform(movies.genres)
    if len(encoder.classes_) < 2:  # cleanlab ranks a label against the other genres: one genre leaves nothing to rank
        raise DataError(movies.source, f"only one genre ({encoder.classes_[0]}) is kept; the audit needs 2 or more",
                        hint="lower --min-genre-count or give movies of more genres")
    params = {**(AUDIT_PARAMS if "ensemble" in create_model(model).get_params() else {}), **(params or {})}
    estimator = create_model(model, **params)  # fails here, before any training, on a bad parameter
    check_params(estimator, "params")
    configure(estimator, seed, {"progress": False, **train_options})  # as each fold will: its refusals come now
    readable = estimator.readable(movies)
    if readable.sum() < folds:
        raise DataError(movies.source, f"only {int(readable.sum())} movies have an input '{model}' reads, "
                        f"fewer than --folds {folds}", hint="give more movies or fewer folds")
    echo = echo or (lambda line: None)
    for line in genre_notes(encoder):
        echo(line)
    state = {"table": table_fingerprint(movies, "poster" in estimator.inputs), "model": model, "params": params,
             "folds": folds, "seed": seed, "genres": encoder.classes_, "train_options": train_options}
    fold_of = np.full(len(movies), -1)
    fold_of[readable] = iterative_stratification(labels[readable], (1.0,) * folds, seed)
    with poster_rows(movies):
        probabilities, thresholds = out_of_fold(movies, labels, encoder.classes_, fold_of, out_dir / FOLDS_DIR, state,
                                                echo=echo)
    issues, per_movie = rank_issues(movies, labels, context_probabilities(labels, probabilities, fold_of),
                                    encoder.classes_, model_scores=(probabilities, thresholds),
                                    inputs=estimator.inputs)
    per_movie["suggested_genres"] = suggested_genres(probabilities, thresholds, encoder.classes_)
    per_movie["not_audited"] = np.where(readable, "", UNREAD)
    atomic_write_text(out_dir / "issues.csv", issues.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(out_dir / "movies.csv", per_movie.to_csv(index=False, lineterminator="\n"))
    quality, warning = model_quality(labels, probabilities, thresholds)
    echo(quality)
    if warning:
        echo(f"warning: {warning}")
    write_audit_report(out_dir, movies, issues, per_movie, model=model, folds=folds,
                       unread=int((~readable).sum()), encoder=encoder, quality=quality,
                       warning=warning)
    return issues


def model_quality(labels: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray) -> tuple[str, str | None]:
    """A line saying how well the folds' models named the genres of the movies they did not learn from, against
    naming every movie the most common genres; and a warning where they beat that by less than ``MIN_LIFT``."""
    scored = ~np.isnan(probabilities).any(1)
    given, says = labels[scored] > 0.5, model_genres(probabilities, thresholds)[scored]
    scored_f1, floor = micro_f1(given, says), common_genres_f1(given)
    line = (f"out of fold, the model scored micro-F1 {scored_f1:.3f}; naming every movie the most common genres "
            f"scores {floor:.3f}")
    if scored_f1 >= floor + MIN_LIFT:
        return line, None
    return line, (f"the model does not beat naming the most common genres by {MIN_LIFT} or more, so its suspicions "
                  "say little of any one label; give it more movies or a stronger --model")


def common_genres_f1(given: np.ndarray) -> float:
    """The best micro-F1 of naming every movie the same k most common genres (k = 1, 2, ...): no input read."""
    positives = np.sort(given.sum(0))[::-1]
    n, total = len(given), positives.sum()
    return max((2 * hits / (n * k + total) for k, hits in enumerate(np.cumsum(positives), start=1)), default=0.0)


def genre_notes(encoder: GenreEncoder) -> list[str]:
    """A line naming the audited genres, and one per reason some were left out (worded as ``train``'s note)."""
    lines = [f"auditing {plural(len(encoder.classes_), 'genre')}: {', '.join(map(one_line, encoder.classes_))}"]
    if rare := encoder.rare_:
        lines.append(f"note: {plural(len(rare), 'genre')} not audited, with fewer than {encoder.min_count:,} movies: "
                     f"{counted(rare)} (--min-genre-count audits more)")
    if dropped := encoder.dropped_:
        lines.append(f"note: {plural(len(dropped), 'genre')} not audited, left out by --drop-genres: "
                     f"{counted(dropped)}")
    return lines


def out_of_fold(movies: MovieTable, labels: np.ndarray, genres: list[str], fold_of: np.ndarray, state_dir: Path,
                state: dict, *, echo: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and thresholds per movie from the model of its fold (NaN where ``fold_of`` is -1)."""
    _claim(state_dir, state)
    folds = state["folds"]
    probabilities = np.full(labels.shape, np.nan, dtype=np.float32)
    thresholds = np.full(labels.shape, np.nan, dtype=np.float32)
    for k in range(folds):
        held = np.flatnonzero(fold_of == k)
        path = state_dir / f"fold-{k}.npz"
        if path.exists():
            fold_probabilities, fold_thresholds = read_fold(path, held, len(genres))
            echo(f"fold {k + 1}/{folds}: done earlier, {len(held):,} movies")
        else:
            started = time.perf_counter()
            trained = (fold_of >= 0) & (fold_of != k)
            estimator = fit_fold(movies, labels, genres, trained, state, seed=state["seed"] + k)
            fold_probabilities = estimator.predict_proba(movies.subset(held)).astype(np.float32)
            fold_thresholds = np.asarray(estimator.thresholds_, dtype=np.float32)
            buffer = io.BytesIO()
            np.savez(buffer, rows=held, probabilities=fold_probabilities, thresholds=fold_thresholds)
            atomic_write_bytes(path, buffer.getvalue())
            echo(f"fold {k + 1}/{folds}: trained on {int(trained.sum()):,} movies, scored {len(held):,} "
                 f"in {time.perf_counter() - started:.0f} s")
        probabilities[held] = fold_probabilities
        thresholds[held] = fold_thresholds
    return probabilities, thresholds


def fit_fold(movies: MovieTable, labels: np.ndarray, genres: list[str], rows: np.ndarray, state: dict, *,
             seed: int) -> GenreModel:
    """A model fitted on ``rows`` only: a stratified slice of them drives early stopping and thresholds."""
    estimator = create_model(state["model"], **state["params"])
    configure(estimator, seed, {"progress": False, **state["train_options"]})
    # As in ``train``: a movie none of whose genres the vocabulary keeps teaches nothing.
    rows = np.flatnonzero(rows & (labels.sum(1) > 0))
    inner = iterative_stratification(labels[rows], (1 - INNER_VALIDATION, INNER_VALIDATION), seed)
    fit_rows, val_rows = rows[inner == 0], rows[inner == 1]
    return estimator.fit(movies.subset(fit_rows), labels[fit_rows],
                         validation=(movies.subset(val_rows), labels[val_rows]) if len(val_rows) else None,
                         genres=genres)


def read_fold(path: Path, rows: np.ndarray, n_genres: int) -> tuple[np.ndarray, np.ndarray]:
    """A saved fold's (probabilities, thresholds), checked against the rows it must hold."""
    # No array of a fold this audit wrote is larger (rows, probabilities): a compressed member may claim far more.
    largest = 8 * len(rows) * max(n_genres, 1) + 4096
    try:
        if not path.is_file():  # a pipe would make the reading wait for ever
            raise OSError("not a regular file")
        with np.load(path, allow_pickle=False) as saved:
            if any(member.file_size > largest for member in saved.zip.infolist()):
                raise ValueError(f"an array of over {largest:,} bytes")
            saved_rows, probabilities, thresholds = saved["rows"], saved["probabilities"], saved["thresholds"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:  # truncated or corrupt zip
        raise DataError(path, f"damaged fold file ({error})", hint="delete it; the audit trains that fold again") \
            from None
    if not np.array_equal(saved_rows, rows) or probabilities.shape != (len(rows), n_genres) \
            or thresholds.shape != (n_genres,) or not all(_finite(array) for array in (probabilities, thresholds)):
        raise DataError(path, "fold file does not match this audit", hint="delete it; the audit trains it again")
    return probabilities, thresholds


def _finite(array: np.ndarray) -> bool:
    return array.dtype.kind == "f" and bool(np.isfinite(array).all())


def _claim(state_dir: Path, state: dict) -> None:
    """Record the audit's arguments beside its folds; refuse folds made with other arguments."""
    path = state_dir / STATE_JSON
    text = json.dumps(state, indent=2, sort_keys=True) + "\n"
    if path.exists():
        before = read_json(path, hint=f"delete {state_dir} to start over")
        if not isinstance(before, dict):
            raise DataError(path, f"a JSON {type(before).__name__}, not an object",
                            hint=f"delete {state_dir} to start over")
        if before != json.loads(text):
            changed = sorted(k for k in set(before) | set(state) if before.get(k) != json.loads(text).get(k))
            raise ConfigError(f"{state_dir.parent}: holds an audit made with other {', '.join(changed)}; "
                              f"give another --out or delete {state_dir} to start over")
        return
    atomic_write_text(path, text)


def table_fingerprint(movies: MovieTable, posters: bool) -> str:
    """Changes whenever a row, a label or an input of the table changes: titles too (fusion models read them), and,
    for a model that reads ``posters``, a poster's content, not its path (one replaced under its name is another
    input; a text model never opens them)."""
    columns = movies.frame[["imdb_id", "title", "genres", "description"]].to_numpy().tolist()
    contents = file_keys(movies.posters)[0] if posters else []
    return hashlib.sha256(json.dumps([columns, contents], ensure_ascii=False).encode("utf-8")).hexdigest()


def label_suspicion(labels: np.ndarray, probabilities: np.ndarray, *, method: str = METHOD,
                    adjust: bool = ADJUST) -> np.ndarray:
    """(movies, genres) suspicion of each given 0/1 label, in [0, 1]: 1 - cleanlab's per-class label quality."""
    from cleanlab.multilabel_classification.rank import get_label_quality_scores_per_class

    quality = get_label_quality_scores_per_class(_label_lists(labels), probabilities, method=method,
                                                 adjust_pred_probs=adjust)
    return 1.0 - np.asarray(quality).reshape(labels.shape)  # cleanlab 2.9 gives (movies, genres)


def movie_label_quality(labels: np.ndarray, probabilities: np.ndarray, *, method: str = METHOD,
                        adjust: bool = ADJUST) -> np.ndarray:
    """One score per movie in [0, 1] (low: its labels are probably wrong), cleanlab's aggregate."""
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    return get_label_quality_scores(_label_lists(labels), probabilities, method=method, adjust_pred_probs=adjust)


def _label_lists(labels: np.ndarray) -> list[list[int]]:
    return [np.flatnonzero(row).tolist() for row in labels > 0.5]


def context_probabilities(labels: np.ndarray, probabilities: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
    """P(genre | the model's out-of-fold probabilities, the movie's other labels), cross-fitted on the folds.

    Per genre, a logistic regression reads every genre's log-odds from the model, the movie's other labels
    and how many it has; the one for a fold's movies is fitted on the other folds, so no label is judged by
    a model that saw it. Its log-odds are pooled with the model's (``CONTEXT_WEIGHT``). NaN rows (movies not
    scored) stay NaN.
    """
    from sklearn.linear_model import LogisticRegression

    out = np.full(probabilities.shape, np.nan, dtype=np.float32)
    scored = np.flatnonzero(~np.isnan(probabilities).any(1))
    log_odds, given = _log_odds(probabilities[scored]), labels[scored] > 0.5
    folds = fold_of[scored]
    for genre in range(labels.shape[1]):
        others = given.copy()
        others[:, genre] = False
        count = np.eye(5)[np.minimum(others.sum(1), 4)]  # 0, 1, 2, 3, 4+ other genres
        features, target = np.hstack([log_odds, others, count]), given[:, genre]
        for k in np.unique(folds):
            train, held = folds != k, folds == k
            if target[train].min() == target[train].max():  # nothing to learn: the genre's rate is the answer
                out[scored[held], genre] = target[train].mean()
                continue
            fitted = LogisticRegression(C=CONTEXT_C, max_iter=500).fit(features[train], target[train])
            out[scored[held], genre] = fitted.predict_proba(features[held])[:, 1]
    pooled = CONTEXT_WEIGHT * _log_odds(out[scored]) + (1 - CONTEXT_WEIGHT) * log_odds
    out[scored] = expit(pooled)
    return out


def _log_odds(probabilities: np.ndarray) -> np.ndarray:
    return logit(np.clip(probabilities, 1e-4, 1 - 1e-4))


def rank_issues(movies: MovieTable, labels: np.ndarray, probabilities: np.ndarray, genres: list[str], *,
                model_scores: tuple[np.ndarray, np.ndarray], inputs: tuple[str, ...] = ("poster", "description")
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(issues, per-movie label quality). An issue is a label more likely wrong than right (score above 0.5).

    ``probabilities`` rank the labels (the label-aware ones); ``model_scores`` is the poster/description model's own
    (probabilities, thresholds) per movie, shown beside each issue with whether that model alone would raise it;
    ``inputs``: what that model reads, of what each movie has.
    """
    scored = np.flatnonzero(~np.isnan(probabilities).any(1))
    given, found = labels[scored] > 0.5, probabilities[scored]
    own, says = model_scores[0][scored], model_genres(*model_scores)[scored]
    suspicion = label_suspicion(given, found)
    row, genre = np.nonzero(suspicion > 0.5)
    issues = pd.DataFrame({
        "imdb_id": np.asarray(movies.ids, dtype=object)[scored[row]],
        "title": movies.frame["title"].to_numpy()[scored[row]],
        "genre": np.asarray(genres, dtype=object)[genre],
        "kind": np.where(given[row, genre], "extra", "missing"),
        "score": suspicion[row, genre],
        "probability": found[row, genre],
        "model_probability": own[row, genre],
        # The model alone finds the same problem: it does not suggest a genre given, or suggests one not given.
        "model_confirms": says[row, genre] != given[row, genre],
        # What a person checking the label needs beside it, without a join: the movie's labels, what the model read.
        "labels": movies.frame["genres"].map(GENRE_SEPARATOR.join).to_numpy()[scored[row]],
        "inputs": _inputs(movies, inputs)[scored[row]]}, columns=list(ISSUE_COLUMNS))
    issues = issues.sort_values(["score", "imdb_id", "genre"], ascending=[False, True, True], kind="stable")
    rounded = ["score", "probability", "model_probability"]
    issues[rounded] = issues[rounded].astype(np.float64).round(4)  # after sorting: no false ties
    quality = np.full(len(movies), np.nan)
    quality[scored] = movie_label_quality(given, found)
    per_movie = pd.DataFrame({"imdb_id": movies.ids, "label_quality": np.round(quality, 4)})
    return issues.reset_index(drop=True), per_movie


def _inputs(movies: MovieTable, inputs: tuple[str, ...]) -> np.ndarray:
    """What a model reading ``inputs`` read of each movie, in words: poster, description or both (a description model
    reads no poster, whether the movie has one or not)."""
    poster, description = movies.has_poster & ("poster" in inputs), movies.has_description & ("description" in inputs)
    return np.where(poster & description, "both", np.where(poster, "poster", "description")).astype(object)


def model_genres(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(movies, genres) True where the model alone says the movie has the genre: its probability is at or above the
    fold model's threshold or, where no genre's is, it is the most probable genre (every movie has one). All False
    for movies not scored."""
    scored = ~np.isnan(probabilities).any(1)
    says = np.zeros(probabilities.shape, dtype=bool)
    says[scored] = probabilities[scored] >= thresholds[scored]
    none = np.flatnonzero(scored & ~says.any(1))
    says[none, np.argmax(probabilities[none], axis=1)] = True
    return says


def suggested_genres(probabilities: np.ndarray, thresholds: np.ndarray, genres: list[str]) -> list[str]:
    """What the poster and description say (:func:`model_genres`) without the labels' help (the label-aware stage
    judges labels; it would only echo them back). "" for movies not scored."""
    return ["|".join(genres[g] for g in np.flatnonzero(row)) for row in model_genres(probabilities, thresholds)]
