"""Genre names come from the user's table and may be any text: a path, a comma, rich markup. Every command that
names files after genres, writes them into a CSV header or prints them keeps them as they are, and inside the
folder the user gave."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import GENRES, draw_poster, make_tiny_table, run_moviegenre
from moviegenre.serving.explain import overlay_files
from moviegenre.serving.predictor import Predictor

# The tiny table's genres renamed: a path out of the folder, a comma, markup, a slash, and an ordinary name that a
# slash's safe spelling would clash with.
HOSTILE = dict(zip(GENRES, ["../../../ESCAPED", "Sci-Fi, Fantasy", "[/]", "Action/Adventure", "Action_Adventure"]))


@pytest.fixture(scope="module")
def hostile_table(tmp_path_factory) -> Path:
    path = make_tiny_table(tmp_path_factory.mktemp("hostile") / "table")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["genres"] = frame["genres"].map(lambda genres: "|".join(HOSTILE[g] for g in genres.split("|")))
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def hostile_run(hostile_table, tmp_path_factory) -> Path:
    """A quick run that explains both a poster and a description, on the hostile genres: fusion-concat, one epoch."""
    from moviegenre.training.pipeline import train

    out = tmp_path_factory.mktemp("hostile-run") / "run"
    train(hostile_table, "fusion-concat", out, min_genre_count=3, max_epochs=1, progress=False)
    return out


def test_overlay_files_keep_ordinary_names_and_make_the_others_safe_and_distinct():
    genres = ["Sci-Fi", "Film-Noir", "Action/Adventure", "Action_Adventure", "../../x", "[/]", "Drama", "drama",
              "é" * 300]
    files = overlay_files(genres)
    assert files["Sci-Fi"] == "overlay-Sci-Fi.png" and files["Film-Noir"] == "overlay-Film-Noir.png"
    assert files["Action_Adventure"] == "overlay-Action_Adventure.png"  # an ordinary name whatever the others are
    assert files["Action/Adventure"] == "overlay-Action_Adventure-2.png" and files["../../x"] == "overlay-.._.._x.png"
    assert len({name.lower() for name in files.values()}) == len(genres)  # one file each, whatever the file system
    assert all(Path(name).name == name and len(name) < 255 and name.startswith("overlay-") and name.endswith(".png")
               for name in files.values())


def test_explain_writes_every_overlay_inside_out(hostile_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for the word table's whole genre names
    out = tmp_path / "a" / "b" / "c" / "why"
    code, stdout, err = run_moviegenre(monkeypatch, capsys, "explain", hostile_run, "--poster",
                                       draw_poster(tmp_path / "poster.png"), "--description", "ghost blood night",
                                       "--top", "5", "--out", out)
    assert code == 0, err
    written = [path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file()]
    overlays = {"overlay-.._.._.._ESCAPED.png", "overlay-Sci-Fi__Fantasy.png", "overlay-___.png",
                "overlay-Action_Adventure.png", "overlay-Action_Adventure-1.png"}  # genre 1 in the model's (sorted) order
    assert sorted(map(str, written)) == sorted(["poster.png", *(f"a/b/c/why/{name}" for name in
                                                                {*overlays, "words.csv"})])
    assert "[/]: p=" in stdout and all(genre in stdout.split("┃ word ")[1] for genre in HOSTILE.values())
    # The next run removes them all: no folder or stray file is left of an earlier movie's overlays.
    code, _, err = run_moviegenre(monkeypatch, capsys, "explain", hostile_run, "--poster",
                                  draw_poster(tmp_path / "poster.png"), "--top", "1", "--out", out)
    assert code == 0, err
    assert len(list(out.iterdir())) == 1


def test_predict_table_csv_header_is_quoted_as_its_rows(hostile_run, hostile_table, tmp_path, monkeypatch, capsys):
    out = tmp_path / "predictions.csv"
    code, _, err = run_moviegenre(monkeypatch, capsys, "predict-table", hostile_table, "--out", out, "--run",
                                  hostile_run, "--no-progress")
    assert code == 0, err
    header, *rows = csv.reader(out.open(encoding="utf-8", newline=""))
    assert header[2:] == [f"p_{genre}" for genre in sorted(HOSTILE.values())]
    assert {len(row) for row in rows} == {len(header)}
    assert list(pd.read_csv(out).columns) == header


def test_predict_prints_genres_as_they_are(hostile_run, tmp_path, monkeypatch, capsys):
    # Every genre clears its threshold: the summary line names them all.
    monkeypatch.setattr(Predictor, "thresholds", property(lambda self: np.zeros(len(self.genres), np.float32)))
    code, out, err = run_moviegenre(monkeypatch, capsys, "predict", hostile_run, "--poster",
                                    draw_poster(tmp_path / "poster.png"))
    assert code == 0, err
    summary = out.splitlines()[0]
    assert all(genre in summary for genre in HOSTILE.values())
    assert summary.endswith("(model fusion-concat; used poster)")


def test_compare_table_prints_genres_as_they_are(hostile_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for whole genre names
    posters = [draw_poster(tmp_path / "[red]one.png", seed=1), draw_poster(tmp_path / "two.png", seed=2)]
    code, out, err = run_moviegenre(monkeypatch, capsys, "compare", *posters, "--genre", "[/]", "--run", hostile_run,
                                    "--no-progress")
    assert code == 0, err
    assert "ranked for [/]" in out and "[red]one.png" in out and "Action/Adventure" in out


def test_data_inspect_and_split_print_genres_as_they_are(hostile_table, tmp_path, monkeypatch, capsys):
    code, out, err = run_moviegenre(monkeypatch, capsys, "data", "inspect", hostile_table, "--min-genre-count", "3")
    assert code == 0, err
    assert all(genre in out for genre in HOSTILE.values())
    split = tmp_path / "[bold]split"
    code, out, err = run_moviegenre(monkeypatch, capsys, "data", "split", hostile_table, "--out", split,
                                    "--min-genre-count", "3")
    assert code == 0, err
    assert all(genre in out for genre in HOSTILE.values()) and f"wrote {split / 'split.csv'}" in out
