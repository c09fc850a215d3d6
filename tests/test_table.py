"""MovieTable: construction, views, input selection, validation messages, saving."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from conftest import draw_poster
from moviegenre.data.readers import read_table
from moviegenre.data.table import MovieTable, atomic_write_text, split_genres
from moviegenre.errors import DataError


def make_table(tmp_path: Path) -> MovieTable:
    """Four movies: poster only, description only, both, neither."""
    poster = str(draw_poster(tmp_path / "p.png"))
    return MovieTable.from_records([
        {"imdb_id": "tt01", "genres": "Drama|Comedy", "poster": poster, "year": 1999},
        {"imdb_id": "tt02", "genres": ["Horror"], "description": "  a ghost  "},
        {"imdb_id": "tt03", "genres": "Drama", "description": "a family", "poster": poster, "title": "Three"},
        {"imdb_id": "tt04", "genres": "Action"},
    ], source="movies.csv")


@pytest.mark.parametrize("text, expected", [
    ("Drama|Comedy", ["Drama", "Comedy"]),
    (" Sci-Fi | Film-Noir ", ["Sci-Fi", "Film-Noir"]),
    ("Drama||", ["Drama"]),
    ("", []),
])
def test_split_genres(text, expected):
    assert split_genres(text) == expected


def test_from_records_normalises_fields(tmp_path):
    table = make_table(tmp_path)
    assert len(table) == 4
    assert table.ids == ["tt01", "tt02", "tt03", "tt04"]
    assert table.genres == [["Drama", "Comedy"], ["Horror"], ["Drama"], ["Action"]]
    assert table.descriptions == ["", "a ghost", "a family", ""]
    assert table.frame.loc[0, "year"] == 1999
    assert table.frame.loc[2, "title"] == "Three"
    assert table.has_poster.tolist() == [True, False, True, False]
    assert table.has_description.tolist() == [False, True, True, False]
    assert table.is_labelled
    assert table.split is None


def test_is_labelled_needs_a_genre():
    assert not MovieTable.from_records([{"imdb_id": "tt1", "description": "x"}]).is_labelled
    assert not MovieTable.from_records([]).is_labelled


def test_split_column_is_kept():
    table = MovieTable.from_records([{"imdb_id": "tt1", "split": "train"}, {"imdb_id": "tt2", "split": None}])
    assert table.split.tolist() == ["train", ""]


def test_subset_by_mask_and_positions(tmp_path):
    table = make_table(tmp_path)
    assert table.subset(np.array([True, False, True, False])).ids == ["tt01", "tt03"]
    assert table.subset([3, 0]).ids == ["tt04", "tt01"]
    assert table.subset([2]).frame.index.tolist() == [0]
    assert table.subset([2]).source == "movies.csv"


@pytest.mark.parametrize("use, ids", [
    ("poster", ["tt01", "tt03"]),
    ("description", ["tt02", "tt03"]),
    ("both", ["tt03"]),
    ("any", ["tt01", "tt02", "tt03", "tt04"]),
])
def test_with_inputs_keeps_rows_that_have_them(tmp_path, use, ids):
    assert make_table(tmp_path).with_inputs(use).ids == ids


def test_with_inputs_blanks_the_unused_input(tmp_path):
    table = make_table(tmp_path)
    assert table.with_inputs("poster").descriptions == ["", ""]
    assert table.with_inputs("description").posters == ["", ""]
    assert table.descriptions[2] == "a family"  # the original is untouched


def test_with_inputs_rejects_unknown_choice(tmp_path):
    with pytest.raises(DataError, match=r"^--use: unknown value 'text' \(use one of any, poster, description, both"):
        make_table(tmp_path).with_inputs("text")


def test_validate_finds_every_problem(tmp_path):
    table = MovieTable.from_records([
        {"imdb_id": "tt1", "genres": "Drama"},
        {"imdb_id": "", "genres": "Drama"},
        {"imdb_id": "tt1", "genres": "Comedy"},
        {"imdb_id": "tt4", "genres": ""},
        {"imdb_id": "tt5", "genres": "Drama", "poster": str(tmp_path / "gone.jpg")},
    ], source="m.csv")
    messages = [str(p) for p in table.validate()]
    assert messages == [
        "m.csv: row 2, field 'imdb_id': empty id (every movie needs a unique id)",
        "m.csv: row 3, field 'imdb_id': duplicate id 'tt1' (first seen in row 1) (remove or merge the duplicate row)",
        "m.csv: row 4, field 'genres': no genres in a labelled table (give at least one genre, '|'-separated)",
        (f"m.csv: row 5, field 'poster': poster file '{tmp_path / 'gone.jpg'}' does not exist "
         "(fix the path or leave the field empty)"),
    ]
    assert len(table.validate(labelled=False, check_files=False)) == 2


def test_check_raises_the_first_problem_in_row_order_with_a_count():
    table = MovieTable.from_records([{"imdb_id": "tt1", "genres": "Drama"}, {"imdb_id": "tt1", "genres": ""}],
                                    source="m.csv")
    with pytest.raises(DataError) as caught:
        table.check()
    assert str(caught.value) == ("m.csv: row 2, field 'imdb_id': duplicate id 'tt1' (first seen in row 1) "
                                 "(remove or merge the duplicate row; 1 more problem: 'moviegenre data inspect' lists it)")
    assert (caught.value.row, caught.value.field) == (2, "imdb_id")
    problems = MovieTable.from_records([{"imdb_id": "", "genres": "Drama"}, {"imdb_id": "tt1", "genres": ""},
                                        {"imdb_id": "", "genres": ""}], source="m.csv").validate()
    assert [(p.row, p.field) for p in problems] == [(1, "imdb_id"), (2, "genres"), (3, "imdb_id"), (3, "genres")]


def test_every_repeat_of_an_id_names_the_row_it_was_first_seen_in():
    table = MovieTable.from_records([{"imdb_id": imdb_id, "genres": "Drama"}
                                     for imdb_id in ("tt1", "tt2", "", "tt1", "tt2", "", "tt1", "tt3")], source="m.csv")
    assert [(p.row, p.problem) for p in table.validate() if p.field == "imdb_id"] == [
        (3, "empty id"), (4, "duplicate id 'tt1' (first seen in row 1)"), (5, "duplicate id 'tt2' (first seen in row 2)"),
        (6, "empty id"), (7, "duplicate id 'tt1' (first seen in row 1)")]
    repeats = table.subset([7, 6, 3, 0])  # a table's own row numbers, whatever the frame's index
    repeats.frame.index = [10, 20, 30, 40]
    assert [p.problem for p in repeats.validate()] == ["duplicate id 'tt1' (first seen in row 2)",
                                                       "duplicate id 'tt1' (first seen in row 2)"]


def special_files(folder: Path) -> dict[str, str]:
    """A poster path that names no regular file, by kind -> how the image loader words it."""
    os.mkfifo(folder / "pipe")
    (folder / "folder").mkdir()
    (folder / "device").symlink_to("/dev/urandom")
    (folder / "loop").symlink_to(folder / "loop")
    not_a_file = "not a regular file (a device, pipe or folder) (give a JPEG, PNG, WebP or GIF poster)"
    return {"pipe": not_a_file, "folder": not_a_file, "device": not_a_file,
            "loop": "is a symlink loop (or a chain of too many links) (point the link at the poster file)"}


@pytest.mark.parametrize("images", [False, True])
def test_a_poster_path_that_is_no_regular_file_is_named_for_what_it_is(tmp_path, images):
    wording = special_files(tmp_path)  # each was "poster file '...' does not exist"
    table = MovieTable.from_records([{"imdb_id": kind, "genres": "Drama", "poster": str(tmp_path / kind)}
                                     for kind in [*wording, "gone.jpg"]], source="m.csv")
    assert [str(p) for p in table.validate(images=images)] == [
        *(f"m.csv: row {row}, field 'poster': poster file '{tmp_path / kind}': {problem}"
          for row, (kind, problem) in enumerate(wording.items(), start=1)),
        (f"m.csv: row 5, field 'poster': poster file '{tmp_path / 'gone.jpg'}' does not exist "
         "(fix the path or leave the field empty)")]


def test_check_returns_the_table_when_clean(tmp_path):
    table = make_table(tmp_path)
    assert table.check() is table


def test_save_writes_shared_format_with_relative_posters(tmp_path):
    table = make_table(tmp_path)
    path = table.save(tmp_path / "out" / "movies.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "imdb_id,title,year,genres,description,poster"
    assert lines[1] == "tt01,,1999,Drama|Comedy,,../p.png"
    assert lines[4] == "tt04,,,Action,,"


def test_save_then_read_round_trip(tiny_table_csv, tmp_path):
    table = read_table(tiny_table_csv)
    again = read_table(table.save(tmp_path / "elsewhere" / "copy.csv"))
    assert again.frame.drop(columns="year").equals(table.frame.drop(columns="year"))
    assert again.frame["year"].tolist() == table.frame["year"].tolist()
    assert all(Path(p).is_file() for p in again.posters if p)


def test_save_keeps_a_split_column(tmp_path):
    table = MovieTable.from_records([{"imdb_id": "tt1", "genres": "Drama", "split": "validation"},
                                     {"imdb_id": "tt2", "genres": "Drama", "split": "test"}])
    assert read_table(table.save(tmp_path / "m.csv")).split.tolist() == ["validation", "test"]


def test_atomic_write_replaces_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "sub" / "file.txt"
    atomic_write_text(path, "first")
    atomic_write_text(path, "second é")
    assert path.read_text(encoding="utf-8") == "second é"
    assert [p.name for p in path.parent.iterdir()] == ["file.txt"]


def test_atomic_write_onto_a_folder_or_under_a_file_is_one_line_and_leaves_nothing(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match=r"folder: cannot write it \(.*\) \(choose another output path: this one is a "
                                        r"folder\)$"):
        atomic_write_text(tmp_path / "folder", "text")
    (tmp_path / "file").write_text("kept")
    with pytest.raises(DataError, match=r"file/out.json: cannot write it \(.*\) \(choose another output path: .*file is a "
                                        r"file, not a folder\)$"):
        atomic_write_text(tmp_path / "file" / "out.json", "text")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"] and not any((tmp_path / "folder").iterdir())
    assert (tmp_path / "file").read_text() == "kept"


def test_publish_folder_makes_a_folder_whole_or_not_at_all(tmp_path):
    """The ONNX exports and the unpacked mpnet are made this way: an interrupted build leaves nothing under the
    target's name, and a folder another process published first is kept."""
    from moviegenre.data.table import publish_folder

    target = tmp_path / "models" / "encoder"

    def interrupted(scratch):
        (scratch / "half.bin").write_bytes(b"x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        publish_folder(target, interrupted)
    assert not target.exists() and not list(target.parent.iterdir())

    def build(text):
        def write(scratch):
            (scratch / "inner").mkdir()
            (scratch / "inner" / "weights.txt").write_text(text)
            return scratch / "inner"
        return write

    publish_folder(target, build("first"))
    publish_folder(target, build("second"))  # as a process that lost the race
    assert (target / "weights.txt").read_text() == "first" and list(target.parent.iterdir()) == [target]
