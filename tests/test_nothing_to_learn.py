"""A model given no training movie with an input it reads (a poster model, a table of descriptions) says so in one
line: it trained on blanks without a word, and learnt no more than how common each genre is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import make_tiny_table, run_moviegenre
from moviegenre.data.genres import GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.errors import DataError
from moviegenre.models import create_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    table = read_table(make_tiny_table(tmp_path_factory.mktemp("nothing")))
    encoder = GenreEncoder(min_count=3).fit(table.genres)
    return table, encoder.transform(table.genres), encoder.classes_


@pytest.mark.parametrize(("name", "lacking", "message"), [
    ("poster-mlp", "has_poster", (r"no training movie has a poster, what model 'poster-mlp' reads \(give movies "
                                  r"with one, or train another model\)$")),
    ("seed-poster-cnn", "has_poster", r"no training movie has a poster, what model 'seed-poster-cnn' reads"),
    ("seed-text-cnn-lstm", "has_description", r"no training movie has a description, what model "),
    ("tfidf-logreg", "has_description", r"no training movie has a description \(give more movies with a description"),
])
def test_no_training_movie_with_the_input_is_one_error_naming_it(tiny, name: str, lacking: str, message: str):
    table, labels, genres = tiny
    rows = ~getattr(table, lacking)
    with pytest.raises(DataError, match=message):  # before any encoder loads or network trains
        create_model(name).fit(table.subset(rows), labels[rows], genres=genres)


def test_a_few_movies_with_the_input_are_enough(tiny):
    table, labels, genres = tiny
    rows = ~table.has_description
    rows[np.flatnonzero(table.has_description)[:12]] = True
    model = create_model("tfidf-logreg", min_df=1).fit(table.subset(rows), labels[rows], genres=genres)
    assert model.predict_proba(table).shape == labels.shape


def test_train_refuses_a_poster_model_on_a_table_without_posters(tmp_path: Path, monkeypatch, capsys):
    lines = make_tiny_table(tmp_path).read_text().splitlines()
    table = tmp_path / "described.csv"
    table.write_text("\n".join(line.rsplit(",", 1)[0] + "," for line in lines[1:]).join([lines[0] + "\n", "\n"]))
    code, out, err = run_moviegenre(monkeypatch, capsys, "train", table, "--model", "poster-mlp", "--min-genre-count",
                                    3, "--out", tmp_path / "run", "--no-progress")
    assert (code, out) == (2, "")
    assert err == (f"error: {table}: no training movie has a poster, what model 'poster-mlp' reads (give movies with "
                   "one, or train another model)\n")
    assert not (tmp_path / "run" / "model.json").exists()


def test_train_counts_the_training_movies_with_an_input_the_model_reads(tmp_path: Path, monkeypatch, capsys):
    """A placeholder description is none: a description model learns nothing from its movie, and the count says so."""
    lines = make_tiny_table(tmp_path).read_text().splitlines()
    placeholders = [line.replace(",,", ",Add a Plot,", 1) if i % 3 == 0 else line for i, line in enumerate(lines[1:])]
    table = tmp_path / "placeholders.csv"
    table.write_text("\n".join([lines[0], *placeholders]) + "\n")
    code, out, err = run_moviegenre(monkeypatch, capsys, "train", table, "--model", "tfidf-logreg", "--min-genre-count",
                                    3, "--validation", 0, "--test", 0, "--out", tmp_path / "run", "--no-progress")
    assert code == 0, err
    assert out.startswith("trained tfidf-logreg on 60 movies, 40 with a description it reads (5 genres) in ")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["train_rows_read"] == 40
