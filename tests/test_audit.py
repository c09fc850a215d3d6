"""``audit``: out-of-fold scoring, resuming a killed audit, the output files, and a planted error found first."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from conftest import WORDS, run_moviegenre
from moviegenre.data.table import MovieTable
from moviegenre.errors import ConfigError
from moviegenre.evaluation import audit as audit_module
from moviegenre.evaluation.audit import (
    FOLDS_DIR,
    ISSUE_COLUMNS,
    MOVIE_COLUMNS,
    STATE_JSON,
    audit,
    rank_issues,
    suggested_genres,
)
from moviegenre.models.base import GenreModel

FAST = {"min_genre_count": 3, "max_epochs": 2}


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory, monkeypatch):
    """The tests' embeddings stay out of the user's cache (one folder for the session: posters embed once)."""
    monkeypatch.setenv("MOVIEGENRE_CACHE", str(tmp_path_factory.getbasetemp() / "audit-cache"))


class Spy:
    """Records the movies every fold's model was fitted on (any fit inside it, validation rows included) and
    the movies it scored afterwards; ``die_at_fold`` kills the process while that fold trains."""

    def __init__(self, monkeypatch, die_at_fold: int | None = None) -> None:
        self.fitted: dict[int, set[str]] = {}
        self.scored: list[tuple[int, list[str]]] = []
        self.folds = 0
        seen: set[str] = set()
        fit, fit_fold = GenreModel.fit, audit_module.fit_fold
        spy = self

        def spying_fit(model, movies, labels, *, validation=None, **kwargs):
            seen.update(movies.ids, validation[0].ids if validation else ())
            return fit(model, movies, labels, validation=validation, **kwargs)

        def spying_fit_fold(*args, **kwargs):
            spy.folds += 1
            if spy.folds == die_at_fold:
                raise KeyboardInterrupt
            seen.clear()
            model = fit_fold(*args, **kwargs)
            spy.fitted[id(model)] = set(seen)
            original = model.predict_proba
            model.predict_proba = lambda movies: (spy.scored.append((id(model), movies.ids)), original(movies))[1]
            return model

        monkeypatch.setattr(GenreModel, "fit", spying_fit)
        monkeypatch.setattr(audit_module, "fit_fold", spying_fit_fold)


def test_every_movie_is_scored_by_a_model_that_never_saw_it(monkeypatch, tiny_table_csv, tmp_path):
    spy = Spy(monkeypatch)
    audit(tiny_table_csv, tmp_path / "audit", folds=3, **FAST)
    assert spy.folds == 3 and len(spy.scored) == 3
    scored = [movie for _, movies in spy.scored for movie in movies]
    assert sorted(scored) == sorted(pd.read_csv(tiny_table_csv, dtype=str)["imdb_id"])  # each movie once
    for model, movies in spy.scored:
        assert not set(movies) & spy.fitted[model]
        assert len(spy.fitted[model]) == 40  # the two other folds, validation slice included


def test_a_killed_audit_trains_only_the_folds_left(monkeypatch, tiny_table_csv, tmp_path):
    with monkeypatch.context() as patch:
        Spy(patch, die_at_fold=2)
        with pytest.raises(KeyboardInterrupt):
            audit(tiny_table_csv, tmp_path / "audit", folds=3, **FAST)
    assert sorted(p.name for p in (tmp_path / "audit" / "folds").glob("fold-*")) == ["fold-0.npz"]
    lines = []
    spy = Spy(monkeypatch)
    issues = audit(tiny_table_csv, tmp_path / "audit", folds=3, echo=lines.append, **FAST)
    assert spy.folds == 2
    assert lines[0].startswith("auditing 5 genres: ")  # then the folds
    assert lines[1] == "fold 1/3: done earlier, 20 movies" and lines[2].startswith("fold 2/3: trained on 40 movies")
    assert len(issues) and (tmp_path / "audit" / "issues.csv").exists()
    with pytest.raises(ConfigError, match="made with other folds, seed"):  # never mixes in another audit's folds
        audit(tiny_table_csv, tmp_path / "audit", folds=4, seed=1, **FAST)
    with pytest.raises(ConfigError, match="would overwrite the input"):
        audit(tiny_table_csv, tmp_path, **FAST)


def test_the_command_writes_the_contract_files(monkeypatch, capsys, tiny_table_csv, tmp_path):
    out_dir = tmp_path / "audit"
    code, out, err = run_moviegenre(monkeypatch, capsys, "audit", tiny_table_csv, "--out", out_dir, "--folds", 3,
                                    "--min-genre-count", 3, "--max-epochs", 2)
    assert code == 0, err
    lines = [line.split(":")[0] for line in err.splitlines()]
    assert lines[:4] == ["auditing 5 genres", "fold 1/3", "fold 2/3", "fold 3/3"]
    assert lines[4].startswith("out of fold, the model scored micro-F1 ")
    assert set(lines[5:]) <= {"warning"}  # two epochs on 40 movies: a model that weak may say so
    issues = pd.read_csv(out_dir / "issues.csv", dtype={"imdb_id": str}, keep_default_na=False)
    assert tuple(issues.columns) == ISSUE_COLUMNS
    assert set(issues["kind"]) <= {"missing", "extra"} and len(issues)
    assert issues["score"].is_monotonic_decreasing and issues["score"].between(0, 1).all()
    table = pd.read_csv(tiny_table_csv, dtype=str, keep_default_na=False)
    labelled = {(row.imdb_id, genre) for row in table.itertuples() for genre in row.genres.split("|")}
    assert all(((m, g) in labelled) == (kind == "extra") for m, g, kind in issues[["imdb_id", "genre", "kind"]].values)
    rows = table.set_index("imdb_id").loc[issues["imdb_id"]]  # beside each issue, the movie's labels and inputs
    assert issues["labels"].tolist() == rows["genres"].tolist()
    assert issues["inputs"].tolist() == [{(True, True): "both", (True, False): "poster", (False, True): "description"}[
        (bool(poster), bool(description))] for poster, description in rows[["poster", "description"]].values]
    assert set(issues["inputs"]) == {"both", "poster", "description"}
    movies = pd.read_csv(out_dir / "movies.csv", dtype={"imdb_id": str}, keep_default_na=False)
    assert tuple(movies.columns) == MOVIE_COLUMNS
    assert list(movies["imdb_id"]) == list(table["imdb_id"])
    assert movies["label_quality"].between(0, 1).all()  # every movie, poster-only and description-only ones too
    assert (movies["suggested_genres"] != "").all() and (movies["not_audited"] == "").all()
    # Beside each issue, the model's own out-of-fold probability (its fold file's) and whether it alone raises the
    # issue: it does exactly where movies.csv's suggestions (the same model at its thresholds) say so.
    own = {}
    for path in (out_dir / FOLDS_DIR).glob("fold-*.npz"):
        with np.load(path) as fold:
            own.update(zip(table["imdb_id"].to_numpy()[fold["rows"]], fold["probabilities"]))
    kept = json.loads((out_dir / FOLDS_DIR / STATE_JSON).read_text())["genres"]
    assert issues["model_probability"].tolist() == pytest.approx(
        [round(float(own[m][kept.index(g)]), 4) for m, g in issues[["imdb_id", "genre"]].values], abs=1e-6)
    suggested = dict(zip(movies["imdb_id"], movies["suggested_genres"].str.split("|")))
    assert issues["model_confirms"].dtype == bool
    assert issues["model_confirms"].tolist() == [(genre in suggested[m]) != (kind == "extra")
                                                 for m, genre, kind in issues[["imdb_id", "genre", "kind"]].values]
    report = (out_dir / "report.md").read_text()
    for plot in ("issues_per_genre.png", "score_distribution.png", "top_suspects.png"):
        assert f"]({plot})" in report and (out_dir / plot).stat().st_size > 1000
    assert f"{len(issues)} suspected label problems" in out


def audit_rows(monkeypatch, capsys, tmp_path, lines: list[str]):
    """``lines`` (a CSV's) audited by tfidf-logreg in 2 folds, genres of 3 movies or more: the audit folder, stderr."""
    (tmp_path / "movies.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out_dir = tmp_path / "audit"
    code, _, err = run_moviegenre(monkeypatch, capsys, "audit", tmp_path / "movies.csv", "--out", out_dir,
                                  "--model", "tfidf-logreg", "--folds", 2, "--min-genre-count", 3)
    assert code == 0, err
    return out_dir, err


def test_the_genres_and_movies_left_out_are_named(monkeypatch, capsys, tmp_path):
    """No issue in a genre the audit leaves out must not read as clean labels: the terminal and report.md name the
    genres audited and those left out (with their counts and why); movies.csv says why a movie was not audited."""
    lines = ["imdb_id,title,year,genres,description,poster"]
    for i in range(40):
        genre = ("Comedy", "Drama", "Horror")[i % 3]
        more = {0: "|Mystery", 1: "|Mystery", 2: "|Short"}.get(i, "")  # Mystery: 2 movies, under --min-genre-count 3
        lines.append(f"tt{i:07d},Movie {i},2001,{genre}{more},{'' if i == 3 else f'{WORDS[genre]} story {i}'},")
    out_dir, err = audit_rows(monkeypatch, capsys, tmp_path, lines)
    assert err.splitlines()[:3] == [
        "auditing 3 genres: Comedy, Drama, Horror",
        "note: 1 genre not audited, with fewer than 3 movies: Mystery (2) (--min-genre-count audits more)",
        "note: 1 genre not audited, left out by --drop-genres: Short (1)"]
    report = (out_dir / "report.md").read_text()
    assert ("Genres audited (3): Comedy (14), Drama (13), Horror (13). Genres not audited: 1 with fewer than 3 movies "
            "(`--min-genre-count`): Mystery (2); 1 left out by name (`--drop-genres`): Short (1). The audit raises no "
            "issue in a genre it does not audit") in report.split("## ")[0]  # near the top, before any section
    assert "`not_audited`" in report.split("In `movies.csv`:")[1]
    movies = pd.read_csv(out_dir / "movies.csv", dtype={"imdb_id": str}, keep_default_na=False)
    assert tuple(movies.columns) == MOVIE_COLUMNS
    assert movies.loc[movies["label_quality"] == "", "imdb_id"].tolist() == ["tt0000003"]  # no description
    assert movies.set_index("imdb_id")["not_audited"].to_dict() == {
        movie: "no input the model reads" if movie == "tt0000003" else "" for movie in movies["imdb_id"]}


def test_an_audit_whose_model_hardly_beats_the_common_genres_warns(monkeypatch, capsys, tmp_path):
    """Descriptions that say nothing of the genres: the model learns their rates only, so its suspicions say nothing
    of any one label, and the audit says so beside how the model scored out of fold."""
    rng = np.random.default_rng(0)
    words = " ".join(WORDS.values()).split()
    lines = ["imdb_id,title,year,genres,description,poster"]
    for i in range(60):
        genres = [genre for genre in WORDS if rng.random() < 0.25] or [str(rng.choice(list(WORDS)))]
        lines.append(f"tt{i:07d},Movie {i},2001,{'|'.join(genres)},{' '.join(rng.choice(words, 6))},")
    out_dir, err = audit_rows(monkeypatch, capsys, tmp_path, lines)
    quality, warning = err.splitlines()[-2:]
    scored, common = (float(number) for number in re.findall(r"\d\.\d{3}", quality))
    assert scored < common + audit_module.MIN_LIFT
    assert warning == ("warning: the model does not beat naming the most common genres by 0.05 or more, so its "
                       "suspicions say little of any one label; give it more movies or a stronger --model")
    head = (out_dir / "report.md").read_text().split("## ")[0]
    assert f"micro-F1 {scored:.3f}" in head and "**Warning:** the model does not beat" in head


def test_the_model_quality_line_against_the_common_genres():
    labels = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float32)
    # The most common genre: 3 right of 4 named, of 6 labels: F1 2*3/(4+6) = 0.6; the two most common: 5 right of 8
    # named, 2*5/(8+6) = 0.714; all three: 2*6/(12+6) = 0.667. The best of them.
    assert audit_module.common_genres_f1(labels > 0.5) == pytest.approx(10 / 14)
    thresholds = np.full((4, 3), 0.5)
    line, warning = audit_module.model_quality(labels, labels * 0.9, thresholds)  # every label found
    assert line == ("out of fold, the model scored micro-F1 1.000; naming every movie the most common genres scores "
                    "0.714") and warning is None
    nan = np.full(3, np.nan)  # a movie not scored counts on neither side
    assert audit_module.model_quality(labels, np.vstack([labels[:3] * 0.9, nan]), thresholds)[0].endswith("0.750")
    assert audit_module.model_quality(labels, np.full((4, 3), 0.6), thresholds)[1] is not None  # every genre named


def test_a_planted_error_ranks_first(tmp_path):
    rng = np.random.default_rng(1)
    genres = list(WORDS)
    lines = ["imdb_id,title,year,genres,description,poster"]
    for i in range(80):
        genre = genres[i % len(genres)]
        words = " ".join(rng.permutation(WORDS[genre].split() + ["movie", "story", "people"]))
        labels = "Comedy|Horror" if i == 11 else genre  # movie 11 is a comedy: 'Horror' is the planted error
        lines.append(f"tt{i:07d},Movie {i},2001,{labels},{words},")
    (tmp_path / "movies.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    issues = audit(tmp_path / "movies.csv", tmp_path / "audit", "tfidf-logreg", min_genre_count=3)
    assert issues.iloc[0][["imdb_id", "genre", "kind"]].tolist() == ["tt0000011", "Horror", "extra"]


def test_an_issue_says_what_the_model_read_of_the_movie():
    """A description model's issues said 'both' for every movie with a poster: it reads none."""
    from moviegenre.evaluation.audit import _inputs

    movies = MovieTable.from_records([{"imdb_id": "tt1", "genres": "Drama", "description": "a plot", "poster": "1.png"},
                                      {"imdb_id": "tt2", "genres": "Drama", "poster": "2.png"},
                                      {"imdb_id": "tt3", "genres": "Drama", "description": "a plot"}])
    assert _inputs(movies, ("poster", "description")).tolist() == ["both", "poster", "description"]
    assert _inputs(movies, ("description",)).tolist()[::2] == ["description", "description"]  # tt2 is never scored
    assert _inputs(movies, ("poster",)).tolist()[:2] == ["poster", "poster"]  # nor is tt3


def test_an_issue_the_model_alone_contradicts_says_so():
    """The label-aware probability ranks the labels; beside it each issue shows the model's own probability and
    whether the model alone, at its fold's thresholds, raises it too, as movies.csv's suggestions would."""
    genres = ["Action", "Comedy", "Documentary", "Drama", "Horror"]
    movies = MovieTable.from_records([
        {"imdb_id": "tt1", "title": "Four Labels", "genres": "Drama|Action|Comedy|Documentary"},
        {"imdb_id": "tt2", "title": "Faint", "genres": "Horror"},
        {"imdb_id": "tt3", "title": "Funny", "genres": "Drama"},
        {"imdb_id": "tt4", "title": "Unread", "genres": "Drama"}])
    labels = np.array([[1, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 1, 0]], dtype=np.float32)
    # Label-aware probabilities: Action is one label too many for tt1, Horror doubtful for tt2, Comedy and Horror
    # probably missing from tt3; every other label agrees with its probability.
    context = np.array([[0.035, 0.9, 0.9, 0.9, 0.05], [0.05, 0.05, 0.05, 0.05, 0.25], [0.05, 0.95, 0.05, 0.9, 0.8],
                        [np.nan] * 5], dtype=np.float32)
    # The model alone: tt1's Action clears its 0.425 threshold; no genre of tt2 clears its threshold, Horror is its
    # most probable (so its suggestion); tt3's Comedy clears 0.5, its Horror does not.
    own = np.array([[0.475, 0.6, 0.6, 0.6, 0.01], [0.05, 0.05, 0.05, 0.05, 0.3], [0.05, 0.7, 0.05, 0.8, 0.3],
                    [np.nan] * 5], dtype=np.float32)
    cuts = np.array([[0.425, 0.5, 0.5, 0.5, 0.5]] * 3 + [[np.nan] * 5], dtype=np.float32)
    issues, _ = rank_issues(movies, labels, context, genres, model_scores=(own, cuts))
    assert tuple(issues.columns) == ISSUE_COLUMNS
    assert issues[["imdb_id", "genre", "kind", "probability", "model_probability", "model_confirms"]].values.tolist() \
        == [["tt1", "Action", "extra", 0.035, 0.475, False],
            ["tt3", "Comedy", "missing", 0.95, 0.7, True],
            ["tt3", "Horror", "missing", 0.8, 0.3, False],
            ["tt2", "Horror", "extra", 0.25, 0.3, False]]
    assert suggested_genres(own, cuts, genres) == ["Action|Comedy|Documentary|Drama", "Horror", "Comedy|Drama", ""]


@pytest.mark.parametrize("args, message", [
    (("--folds", "1"), "--folds 1: give at least 2 folds"),
    (("--model", "nope"), "unknown model 'nope'"),
    (("--device", "gpu"), "--device gpu: unknown device (use cpu, cuda, auto)"),
    (("--max-epochs", "0"), "--max-epochs 0: give a whole number in [1, 100000]"),
])
def test_bad_arguments_are_one_line_errors_before_training(monkeypatch, capsys, tiny_table_csv, tmp_path, args,
                                                           message):
    code, _, err = run_moviegenre(monkeypatch, capsys, "audit", tiny_table_csv, "--out", tmp_path / "a",
                                  "--min-genre-count", 3, *args)
    assert code == 2 and err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists()


def test_the_model_name_is_checked_before_the_table_is_read(monkeypatch, capsys, tmp_path):
    """'audit --model nope' said 'only one genre (Drama) is kept', the table's fault, not the name's."""
    code, _, err = run_moviegenre(monkeypatch, capsys, "audit", tmp_path / "none.csv", "--out", tmp_path / "a",
                                  "--model", "nope")
    assert code == 2 and err.startswith("error: unknown model 'nope' (known: ")


@pytest.mark.parametrize("command", [("data", "inspect"), ("train",), ("audit",)])
def test_a_negative_min_genre_count_is_refused(monkeypatch, capsys, tiny_table_csv, tmp_path, command):
    code, out, err = run_moviegenre(monkeypatch, capsys, *command, tiny_table_csv, "--min-genre-count", "-5")
    assert (code, out) == (2, "") and "'--min-genre-count': Input should be greater than or equal to 0" in err
    assert len(err.strip().splitlines()) == 1


def test_a_missing_table_is_a_one_line_error(monkeypatch, capsys, tmp_path):
    code, _, err = run_moviegenre(monkeypatch, capsys, "audit", tmp_path / "none.csv", "--out", tmp_path / "a")
    assert code == 2 and "none.csv: no such file or folder" in err
