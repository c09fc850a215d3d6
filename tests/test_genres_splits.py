"""Genre policy (vocabulary, labels, weights) and seeded stratified splits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_moviegenre
from moviegenre.data.genres import GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.data.splits import (
    genre_split,
    iterative_stratification,
    load_split,
    save_split,
    split_for,
    split_proportions,
    split_table,
    stratified_split,
)
from moviegenre.data.table import SPLITS, MovieTable
from moviegenre.errors import ConfigError, DataError

# Drama 5 movies, Comedy 3, Short 3, Horror 1 (the duplicate 'Drama' in one movie counts once).
LABELS = [["Drama", "Comedy"], ["Drama", "Drama"], ["Drama", "Short"], ["Comedy", "Short"], ["Drama", "Horror"],
          ["Drama", "Comedy", "Short"]]


# -- genre policy -------------------------------------------------------------------------------


def test_min_count_and_default_drop_list():
    encoder = GenreEncoder(min_count=3).fit(LABELS)
    assert encoder.classes_ == ["Comedy", "Drama"]  # Short has 3 movies but is dropped; Horror has 1
    assert encoder.counts_.tolist() == [3, 5]
    assert encoder.n_samples_ == 6


@pytest.mark.parametrize("min_count, drop, classes", [
    (1, (), ["Comedy", "Drama", "Horror", "Short"]),
    (1, ("Short", "Horror"), ["Comedy", "Drama"]),
    (4, (), ["Drama"]),
])
def test_min_count_and_drop_options(min_count, drop, classes):
    assert GenreEncoder(min_count=min_count, drop=drop).fit(LABELS).classes_ == classes


def test_vocabulary_is_sorted_whatever_the_order():
    assert GenreEncoder(min_count=1).fit(LABELS[::-1]).classes_ == GenreEncoder(min_count=1).fit(LABELS).classes_
    assert GenreEncoder(min_count=1, drop=()).fit([["Western", "Sci-Fi", "Action"]]).classes_ == \
        ["Action", "Sci-Fi", "Western"]


def test_no_genre_left_is_an_error():
    with pytest.raises(DataError, match=r"^labels: no genre has at least 10 movies \(lower --min-genre-count"):
        GenreEncoder(min_count=10).fit(LABELS)


@pytest.mark.parametrize("name, hint", [
    ("horror", "did you mean 'Horror'?"),  # the table spells it otherwise
    ("Horrer", "did you mean 'Horror'?"),  # a typo
    ("Western", "give it as the table spells it ('moviegenre data inspect' lists them)"),
])
def test_a_name_to_drop_that_no_movie_has_is_refused(name, hint):
    """It dropped nothing, unseen: the model learnt the genre the user meant to leave out."""
    with pytest.raises(DataError) as error:
        GenreEncoder(min_count=1, drop=("Short", name)).fit(LABELS)
    assert str(error.value) == f"--drop-genres: no movie has the genre '{name}' ({hint})"


def test_a_name_to_drop_that_several_genres_spell_otherwise_is_refused_naming_them_all():
    """'DRAMA' where the table has 'drama' and 'Drama' could mean either, or both."""
    with pytest.raises(DataError) as error:
        GenreEncoder(min_count=1, drop=("DRAMA",)).fit([["drama"], ["Drama", "Comedy"], ["drama"]])
    assert str(error.value) == "--drop-genres: no movie has the genre 'DRAMA' (did you mean 'Drama' or 'drama'?)"


@pytest.mark.parametrize("drop, classes", [(("Short",), ["Comedy", "Drama"]), (("Short", "Drama"), ["Comedy"])])
def test_the_default_drop_name_is_no_error_where_no_movie_has_it(drop, classes):
    """The default applies to every table: most have no Short movie, and one named with the default is no typo."""
    assert GenreEncoder(min_count=1, drop=drop).fit([["Drama"], ["Comedy"]]).classes_ == classes


def test_transform_and_inverse_transform_ignore_unknown_genres():
    encoder = GenreEncoder(min_count=3).fit(LABELS)
    matrix = encoder.transform([["Drama"], ["Comedy", "Western", "Short"], []])
    assert matrix.dtype == np.float32
    assert matrix.tolist() == [[0, 1], [1, 0], [0, 0]]
    assert encoder.inverse_transform(np.array([[0.2, 0.9], [0.7, 0.6]])) == [["Drama"], ["Comedy", "Drama"]]


def test_class_weights_and_pos_weight():
    encoder = GenreEncoder(min_count=1, drop=()).fit(LABELS)  # Comedy 3, Drama 5, Horror 1, Short 3; N = 6
    np.testing.assert_allclose(encoder.class_weights(), [5 / 3, 1, 5, 5 / 3], rtol=1e-6)  # n_max / n_i
    np.testing.assert_allclose(encoder.pos_weight(), [3 / 3, 1 / 5, 5 / 1, 3 / 3], rtol=1e-6)  # (N - n_i) / n_i


def test_save_load_round_trip(tmp_path):
    encoder = GenreEncoder(min_count=3).fit(LABELS)
    encoder.save(tmp_path / "genres.json")
    loaded = GenreEncoder.load(tmp_path / "genres.json")
    assert loaded.classes_ == encoder.classes_
    assert loaded.counts_.tolist() == encoder.counts_.tolist()
    assert (loaded.n_samples_, loaded.min_count, loaded.drop) == (6, 3, ("Short",))
    np.testing.assert_array_equal(loaded.pos_weight(), encoder.pos_weight())
    np.testing.assert_array_equal(loaded.transform(LABELS), encoder.transform(LABELS))


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"counts": [1]}'])
def test_load_rejects_a_bad_file(tmp_path, content):
    path = tmp_path / "genres.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=rf"^{path}: not a genre vocabulary file"):
        GenreEncoder.load(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not a genre vocabulary file"):
        GenreEncoder.load(tmp_path / "nope.json")


# -- splits -------------------------------------------------------------------------------------


def random_labels(n: int = 1000, n_genres: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((n, n_genres)) < np.linspace(0.05, 0.5, n_genres)


def test_same_seed_same_split_different_seed_different_split():
    labels = random_labels()
    first = stratified_split(labels, seed=1)
    assert (stratified_split(labels, seed=1) == first).all()
    assert (stratified_split(labels, seed=2) != first).any()


# random_labels() leaves 126 of its 1000 rows without any genre. Those are placed last, each in the split furthest
# below its wanted size, so they make up the labelled rows' small misses: every split gets its share exactly.
UNLABELLED_ROWS = 126


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_sizes_are_exactly_80_10_10(seed):
    labels = random_labels()
    assert int((~labels.any(1)).sum()) == UNLABELLED_ROWS
    splits = stratified_split(labels, seed=seed)
    assert {name: int((splits == name).sum()) for name in SPLITS} == {"train": 800, "validation": 100, "test": 100}


def test_genre_shares_are_kept_on_synthetic_labels():
    labels = random_labels()
    proportions = split_proportions(labels, stratified_split(labels, seed=3), [f"g{i}" for i in range(6)])
    assert proportions["max diff (pp)"].max() < 2.0


@pytest.mark.parametrize("validation, test, expected", [(0.2, 0.2, (600, 200, 200)), (0.0, 0.25, (750, 0, 250))])
def test_custom_shares(validation, test, expected):
    splits = stratified_split(random_labels(), validation=validation, test=test, seed=0)
    assert tuple(int((splits == name).sum()) for name in SPLITS) == expected  # exactly: see UNLABELLED_ROWS


def test_rows_without_any_label_are_assigned():
    labels = random_labels(200)
    labels[:50] = False
    folds = iterative_stratification(labels, (0.8, 0.1, 0.1), seed=0)
    assert (folds >= 0).all()
    assert np.bincount(folds, minlength=3).tolist() == pytest.approx([160, 20, 20], abs=1)


@pytest.mark.parametrize("validation, test", [(0.5, 0.5), (0.7, 0.6), (-0.1, 0.1), (0.1, -0.1), (float("nan"), 0.1)])
def test_impossible_shares_are_an_error(validation, test):
    with pytest.raises(DataError, match=r"^split: validation .* and test .* must each be 0 or more and together below 1"):
        stratified_split(random_labels(10), validation=validation, test=test)


def with_split(*splits: str) -> MovieTable:
    return MovieTable.from_records([{"imdb_id": f"tt{i}", "split": s} for i, s in enumerate(splits)])


def test_split_for_uses_the_given_split_as_is():
    labels = random_labels(3)
    assert split_for(with_split("test", "train", "train"), labels).tolist() == ["test", "train", "train"]
    assert split_for(with_split("", "", ""), labels, seed=5).tolist() == stratified_split(labels, seed=5).tolist()


@pytest.mark.parametrize("splits, problem", [
    (("test", "", "train"), "row 2, field 'split': 'tt1' is in no split"),
    (("test", "train", "dev"), "row 3, field 'split': unknown split 'dev'"),
])
def test_split_for_refuses_a_given_split_that_leaves_a_movie_out(splits, problem):
    """A movie in no split was left out of training unseen, and 'data split' saved a split.csv 'train --split'
    refused: a table built in memory is held to what read_table holds a file to."""
    with pytest.raises(DataError) as caught:
        split_for(with_split(*splits), random_labels(3))
    assert str(caught.value) == f"<memory>: {problem} (give every movie train, validation or test, or none to split " \
                                "by seed)"


def test_split_proportions():
    labels = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=bool)
    splits = np.array(["train", "train", "validation", "test"])
    frame = split_proportions(labels, splits, ["A", "B"])
    assert frame["all %"].tolist() == [50, 50]
    assert frame["train %"].tolist() == [100, 50]
    assert frame["validation %"].tolist() == [0, 100]
    assert frame["test %"].tolist() == [0, 0]
    assert frame["max diff (pp)"].tolist() == [50, 50]
    without_validation = split_proportions(labels, np.array(["train", "train", "test", "test"]), ["A", "B"])
    assert list(without_validation.columns) == ["genre", "all %", "train %", "test %", "max diff (pp)"]  # no NaN column


def test_real_split_keeps_every_genre_share_within_2_points(shared_data, tmp_path):
    table = read_table(shared_data / "movies.csv")
    encoder, splits, proportions = split_table(table, tmp_path)
    assert len(encoder.classes_) == 21 and "Short" not in encoder.classes_
    assert proportions["max diff (pp)"].max() < 2.0
    shares = {name: (splits == name).mean() for name in SPLITS}
    assert shares == pytest.approx({"train": 0.8, "validation": 0.1, "test": 0.1}, abs=0.01)
    assert (load_split(tmp_path / "split.csv", table) == splits).all()


# -- saved splits -------------------------------------------------------------------------------


def small_table(n: int = 4) -> MovieTable:
    return MovieTable.from_records([{"imdb_id": f"tt{i}", "genres": "Drama"} for i in range(n)], source="m.csv")


def test_save_load_split_round_trip(tmp_path):
    table = small_table()
    splits = np.array(["train", "validation", "test", "train"])
    path = save_split(tmp_path / "split.csv", table.ids, splits)
    assert path.read_text().splitlines()[:2] == ["imdb_id,split", "tt0,train"]
    assert load_split(path, table).tolist() == splits.tolist()
    assert load_split(path, table.subset([3, 1])).tolist() == ["train", "validation"]


def test_split_table_writes_split_and_genres(tiny_table_csv, tmp_path):
    table = read_table(tiny_table_csv)
    encoder, splits, proportions = split_table(table, tmp_path / "run", min_genre_count=5, seed=4)
    assert GenreEncoder.load(tmp_path / "run" / "genres.json").classes_ == encoder.classes_
    assert load_split(tmp_path / "run" / "split.csv", table).tolist() == splits.tolist()
    assert proportions["genre"].tolist() == encoder.classes_


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def split_sources(tmp_path: Path) -> dict[str, Path]:
    """Tables of six movies that carry a split (an MM-IMDb folder's split.json, a CSV's split column) or not."""
    folder = tmp_path / "mmimdb"
    for number in range(1, 7):
        movie = {"title": "A", "genres": ["Drama"], "plot": [f"plot {number}"]}
        write(folder / "dataset" / f"000000{number}.json", json.dumps(movie))
    write(folder / "split.json", json.dumps({"train": ["0000001", "0000002", "0000003", "0000006"],
                                             "dev": ["0000004"], "test": ["0000005"]}))
    rows = "".join(f"tt{n},Drama,plot {n},{s}\n" for n, s in enumerate(["train"] * 3 + ["dev", "test", "val"]))
    return {"mmimdb": folder, "csv split": write(tmp_path / "split.csv", "imdb_id,genres,description,split\n" + rows),
            "csv": write(tmp_path / "plain.csv", "imdb_id,genres,description\n" + "".join(
                f"tt{n},Drama,plot {n}\n" for n in range(6)))}


@pytest.mark.parametrize("source", ["mmimdb", "csv split", "csv"])
def test_what_data_split_writes_train_split_reads(monkeypatch, capsys, tmp_path, source):
    """A split.csv from 'data split' names every movie's split, and 'train --split' takes it as it is."""
    path = split_sources(tmp_path)[source]
    code, _, err = run_moviegenre(monkeypatch, capsys, "data", "split", path, "--out", tmp_path / "so",
                                  "--min-genre-count", "1")
    assert (code, err) == (0, "")
    table = read_table(path)
    _, _, splits = genre_split(table, min_genre_count=1, split_file=tmp_path / "so" / "split.csv")  # as train does
    assert len(splits) == 6 and set(splits) <= set(SPLITS)
    assert table.split is None or splits.tolist() == table.split.tolist()  # the given split, as it is


def test_data_split_refuses_a_split_json_that_leaves_a_movie_out(monkeypatch, capsys, tmp_path):
    """It wrote the movie with an empty split, which 'train --split' then refused ("unknown split ''")."""
    folder = split_sources(tmp_path)["mmimdb"]
    write(folder / "split.json", json.dumps({"train": ["0000001", "0000002", "0000003"], "dev": ["0000004"],
                                             "test": ["0000005"]}))
    code, out, err = run_moviegenre(monkeypatch, capsys, "data", "split", folder, "--out", tmp_path / "so",
                                    "--min-genre-count", "1")
    assert (code, out) == (2, "")
    assert err == (f"error: {folder}: row 6, field 'split': '0000006' is in no split (list every movie in "
                   f"{folder / 'split.json'} under train, dev or test, or remove it to split by seed)\n")
    assert not (tmp_path / "so").exists()


@pytest.mark.parametrize("content, message", [
    ("imdb_id,fold\ntt0,train\n", "missing column 'imdb_id' or 'split'"),
    ("imdb_id,split\ntt0,train\ntt1,dev\n",
     "row 2, field 'split': unknown split 'dev' (use train, validation or test)"),
    ("imdb_id,split\ntt0,train\ntt1,test\n", "2 movies of m.csv are not in the split (first: tt2)"),
    ("", "cannot read split file"),
    ("imdb_id,split\ntt0,train,x\n", "row 1: cannot read split file (3 fields, but the header has 2)"),
    ("imdb_id,split\ntt0,train\ntt1,test\ntt2,test\ntt0,test\n",
     "field 'imdb_id': 'tt0' is listed 2 times (rows 1, 4) (list each movie once)"),
])
def test_load_split_errors(tmp_path, content, message):
    path = tmp_path / "split.csv"
    path.write_text(content)
    with pytest.raises(DataError) as caught:
        load_split(path, small_table())
    assert str(caught.value).startswith(f"{path}: {message}")


def test_load_split_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read split file"):
        load_split(tmp_path / "nope.csv", small_table())


def test_load_split_of_a_pipe_is_one_line_not_a_wait(tmp_path):
    os.mkfifo(tmp_path / "split.csv")
    with pytest.raises(DataError) as caught:
        load_split(tmp_path / "split.csv", small_table())
    assert str(caught.value) == (f"{tmp_path / 'split.csv'}: cannot read split file (not a regular file: a pipe, socket, "
                                 "device or folder) (give a split.csv from 'data split')")


def test_load_split_non_utf8(tmp_path):
    path = tmp_path / "split.csv"
    path.write_bytes("imdb_id,split\ntt\xe9,train\n".encode("latin-1"))
    with pytest.raises(DataError, match="cannot read split file"):
        load_split(path, small_table())


def test_saved_split_is_plain_csv(tmp_path):
    save_split(tmp_path / "s.csv", ["tt1", "tt2"], np.array(["test", "train"]))
    assert pd.read_csv(tmp_path / "s.csv").to_dict("list") == {"imdb_id": ["tt1", "tt2"], "split": ["test", "train"]}
