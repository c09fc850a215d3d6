"""``audit`` on bad input: damaged resume files, a one-genre table, bad parameters, a changed title or poster, odd report
paths. Each is one line naming the file or argument, never a traceback or folds silently mixed in."""

from __future__ import annotations

import io
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import WORDS, run_moviegenre
from moviegenre.data import images
from moviegenre.data.genres import GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.errors import ConfigError, DataError
from moviegenre.evaluation.audit import FOLDS_DIR, ISSUE_COLUMNS, OUTPUTS, audit, table_fingerprint
from moviegenre.evaluation.audit_report import write_audit_report

FAST = {"model": "tfidf-logreg", "folds": 2, "min_genre_count": 3}


pytestmark = pytest.mark.usefixtures("own_cache")


def text_table(path: Path, titles: dict[int, str] | None = None, genres: list[str] | None = None) -> Path:
    """40 text-only movies (no encoder needed), ``titles`` overriding some titles."""
    genres = genres or list(WORDS)
    lines = ["imdb_id,title,year,genres,description,poster"]
    for i in range(40):
        genre = genres[i % len(genres)]
        title = (titles or {}).get(i, f"Movie {i}").replace('"', '""')
        lines.append(f'tt{i:07d},"{title}",2001,{genre},{WORDS.get(genre, "plain words")} story {i},')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """A finished fast audit: (table, out folder), copied by the tests that damage it."""
    root = tmp_path_factory.mktemp("finished-audit")
    table = text_table(root / "movies.csv")
    audit(table, root / "audit", **FAST)
    return table, root / "audit"


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("name, damage, message", [
    ("fold-0.npz", lambda data: data[: len(data) // 2], "fold-0.npz: damaged fold file (File is not a zip file)"),
    ("fold-0.npz", lambda data: b"", "fold-0.npz: damaged fold file"),
    ("fold-0.npz", "strings", "fold-0.npz: fold file does not match this audit"),
    ("audit.json", lambda data: b"[]", "audit.json: a JSON list, not an object"),
    ("audit.json", lambda data: b"[" * 100_000 + b"]" * 100_000, "audit.json: JSON nested too deeply"),
    ("audit.json", "pipe", "audit.json: not a regular file"),  # reading it would wait for ever
    ("fold-0.npz", "pipe", "fold-0.npz: damaged fold file (not a regular file)"),
    # 40 MB of zeros compressed to some 40 kB: read whole before, as a fold claims to hold it
    ("fold-0.npz", "bomb", "fold-0.npz: damaged fold file (an array of over"),
])
def test_damaged_resume_files_are_one_line_errors(finished, tmp_path, name, damage, message):
    table, done = finished
    out = shutil.copytree(done, tmp_path / "audit")
    path = out / "folds" / name
    if damage == "strings":  # the right rows and shape, but text where probabilities belong
        with np.load(path) as saved:
            rows, probabilities, thresholds = saved["rows"], saved["probabilities"], saved["thresholds"]
        path.write_bytes(npz(rows=rows, probabilities=probabilities.astype("U1"), thresholds=thresholds))
    elif damage == "pipe":
        path.unlink()
        os.mkfifo(path)
    elif damage == "bomb":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, rows=np.zeros(5_000_000, np.int64), probabilities=np.zeros((1, 1)),
                            thresholds=np.zeros(1))
        path.write_bytes(buffer.getvalue())
    else:
        path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError) as raised:
        audit(table, out, **FAST)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_every_file_written_is_checked_against_the_inputs(finished):
    """OUTPUTS are what audit compares with the table and its posters: a plot left out could replace a poster."""
    _, done = finished
    assert {path.name for path in done.iterdir()} == {*OUTPUTS, FOLDS_DIR}


def test_a_changed_title_is_another_table(finished, tmp_path):
    """fusion models read titles: folds trained with the old titles must not be mixed in."""
    _, done = finished
    out = shutil.copytree(done, tmp_path / "audit")
    retitled = text_table(tmp_path / "movies.csv", titles={3: "A New Title"})
    with pytest.raises(ConfigError, match="holds an audit made with other table;"):
        audit(retitled, out, **FAST)


def test_a_poster_replaced_under_its_name_is_another_table(tmp_path, monkeypatch):
    """Models that read posters read their content: folds trained on the old image must not be mixed in; a renamed
    copy is the same input. A text model never opens them."""
    for name, colour in (("a.png", "red"), ("b.png", "blue")):
        Image.new("RGB", (20, 30), colour).save(tmp_path / name)
    table = tmp_path / "movies.csv"
    table.write_text("imdb_id,title,year,genres,description,poster\n"
                     "tt0000001,One,2001,Drama,words,a.png\ntt0000002,Two,2001,Comedy,words,b.png\n")
    before, text_only = table_fingerprint(read_table(table), True), table_fingerprint(read_table(table), False)
    Image.new("RGB", (20, 30), "green").save(tmp_path / "a.png")
    assert table_fingerprint(read_table(table), True) != before
    assert table_fingerprint(read_table(table), False) == text_only
    shutil.copy(tmp_path / "a.png", tmp_path / "c.png")
    again = table_fingerprint(read_table(table), True)
    table.write_text(table.read_text().replace("a.png", "c.png"))
    assert table_fingerprint(read_table(table), True) == again
    # A poster over the size limit does not stop the audit of a model that never reads posters.
    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", 10)
    assert table_fingerprint(read_table(table), False) == text_only


def test_a_one_genre_table_is_a_one_line_error(tmp_path):
    table = text_table(tmp_path / "movies.csv", genres=["Drama"])
    with pytest.raises(DataError, match=r"movies.csv: only one genre \(Drama\) is kept; the audit needs 2 or more"):
        audit(table, tmp_path / "audit", **FAST)


def test_a_parameter_of_the_wrong_type_fails_before_training(tmp_path):
    table = text_table(tmp_path / "movies.csv")
    with pytest.raises(ConfigError, match="params: parameter 'min_df' is 'two', expected int"):
        audit(table, tmp_path / "audit", params={"min_df": "two"}, **FAST)
    assert not (tmp_path / "audit").exists()


def test_a_config_field_the_audit_sets_fails_before_its_folder_is_made(tmp_path):
    table = text_table(tmp_path / "movies.csv")
    with pytest.raises(ConfigError, match="config: 'seed' would be ignored, the run sets it"):
        audit(table, tmp_path / "audit", model="description-mlp", folds=2, min_genre_count=3,
              params={"config": {"seed": 5}})
    assert not (tmp_path / "audit").exists()


def test_a_negative_seed_is_a_one_line_error(monkeypatch, capsys, tmp_path):
    table = text_table(tmp_path / "movies.csv")
    code, _, err = run_moviegenre(monkeypatch, capsys, "audit", table, "--out", tmp_path / "a", "--seed", "-1")
    assert code == 2 and err.strip() == "error: --seed -1: give 0 or more"
    assert not (tmp_path / "a").exists()


def encoder_of(movies) -> GenreEncoder:
    return GenreEncoder(FAST["min_genre_count"]).fit(movies.genres)


def report_inputs(tmp_path: Path, title: str):
    movies = read_table(text_table(tmp_path / "movies.csv", titles={0: title}))
    issues = pd.DataFrame([["tt0000000", title, "Drama", "extra", 0.9, 0.1, 0.6, False, "Drama", "description"]],
                          columns=list(ISSUE_COLUMNS))
    per_movie = pd.DataFrame({"imdb_id": movies.ids, "label_quality": 0.5, "suggested_genres": "Comedy"})
    return movies, issues, per_movie


def test_a_title_with_a_line_break_stays_in_its_report_row(tmp_path):
    movies, issues, per_movie = report_inputs(tmp_path, "Two\nLines | Here")
    report = write_audit_report(tmp_path, movies, issues, per_movie, model="m", folds=2, unread=0,
                                encoder=encoder_of(movies)).read_text()
    assert "| 1 | tt0000000 | Two Lines \\| Here | Drama | extra | 0.900 |" in report


def test_the_report_says_what_each_column_means_and_where_the_model_alone_disagrees(tmp_path):
    movies, issues, per_movie = report_inputs(tmp_path, "Movie 0")
    more = [["tt0000001", "Movie 1", "Comedy", "missing", 0.8, 0.9, 0.7, True, "Drama", "both"],
            ["tt0000002", "Movie 2", "Drama", "extra", 0.7, 0.3, 0.2, True, "Drama", "poster"]]
    issues = pd.concat([issues, pd.DataFrame(more, columns=list(ISSUE_COLUMNS))], ignore_index=True)
    report = write_audit_report(tmp_path, movies, issues, per_movie, model="m", folds=2, unread=0,
                                encoder=encoder_of(movies)).read_text()
    meanings = {line.split(":")[0] for line in report.splitlines() if line.startswith("`")}
    assert {f"`{column}`" for column in ISSUE_COLUMNS if column not in ("imdb_id", "title")} < meanings
    assert "`imdb_id`, `title`" in meanings
    assert "the movie's other labels" in report.split("`probability`:")[1].split("\n")[0]
    assert "never its labels" in report.split("`model_probability`:")[1].split("\n")[0]
    assert "confirms 2 of these issues (missing: 1 of 1; extra: 1 of 2) and disagrees with 1:" in report
    assert "| 1 | tt0000000 | Movie 0 | Drama | extra | 0.900 | 0.100 | 0.600 | no |" in report
    assert "| 2 | tt0000001 | Movie 1 | Comedy | missing | 0.800 | 0.900 | 0.700 | yes |" in report


def test_a_folder_in_place_of_a_plot_is_a_one_line_error(tmp_path):
    movies, issues, per_movie = report_inputs(tmp_path, "Movie 0")
    (tmp_path / "issues_per_genre.png").mkdir()
    with pytest.raises(DataError, match="issues_per_genre.png: cannot write it") as raised:
        write_audit_report(tmp_path, movies, issues, per_movie, model="m", folds=2, unread=0,
                           encoder=encoder_of(movies))
    assert "\n" not in str(raised.value)


def test_a_clean_catalogue_reports_without_warnings(tmp_path):
    movies, issues, per_movie = report_inputs(tmp_path, "Movie 0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "cannot be log-scaled" used to reach the user's stderr
        report = write_audit_report(tmp_path, movies, issues.iloc[:0], per_movie, model="m", folds=2, unread=0,
                                    encoder=encoder_of(movies))
    assert "0 suspected label problems" in report.read_text()


def test_a_symlink_loop_given_as_the_table_is_a_one_line_error(monkeypatch, capsys, tmp_path):
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    code, _, err = run_moviegenre(monkeypatch, capsys, "audit", tmp_path / "a.csv", "--out", tmp_path / "audit")
    assert code == 2 and err.startswith(f"error: {tmp_path / 'a.csv'}: ") and err.count("\n") == 1, err


def test_a_title_in_a_script_the_font_lacks_reports_without_warnings(tmp_path):
    movies, issues, per_movie = report_inputs(tmp_path, "千と千尋の神隠し \x00")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warned once per missing glyph, on the user's stderr
        report = write_audit_report(tmp_path, movies, issues, per_movie, model="m", folds=2, unread=0,
                                    encoder=encoder_of(movies))
    assert (tmp_path / "top_suspects.png").stat().st_size > 0 and report.exists()
