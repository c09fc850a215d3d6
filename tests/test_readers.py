"""Readers: the real shared files, synthetic files of every supported format, and one-line errors."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from conftest import draw_poster
from moviegenre.data.readers import read_table
from moviegenre.data.splits import split_for
from moviegenre.errors import DataError

HEADER = "imdb_id,title,year,genres,description,poster"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def shared_csv(tmp_path: Path, *rows: str) -> Path:
    return write(tmp_path / "movies.csv", "\n".join([HEADER, *rows]) + "\n")


def one_hot_csv(tmp_path: Path, *rows: str, posters: bool = True) -> Path:
    """Analytics Vidhya layout: Id, Genre (a free-text list), one 0/1 column per genre, Images/<Id>.jpg."""
    for row in rows:
        if posters:
            draw_poster(tmp_path / "Images" / f"{row.split(',')[0]}.jpg")
    return write(tmp_path / "train.csv", "\n".join(["Id,Genre,Action,Comedy,Drama", *rows]) + "\n")


def mmimdb_folder(tmp_path: Path, movies: dict[str, dict], split: dict | None = None,
                  posters: tuple[str, ...] = ()) -> Path:
    """MM-IMDb layout: dataset/<id>.json (IMDbPY fields) + dataset/<id>.jpeg, split.json beside dataset/."""
    root = tmp_path / "mmimdb"
    for movie_id, info in movies.items():
        write(root / "dataset" / f"{movie_id}.json", json.dumps(info))
    for movie_id in posters:
        draw_poster(root / "dataset" / f"{movie_id}.jpeg")
    if split is not None:
        write(root / "split.json", json.dumps(split))
    return root


MMIMDB_MOVIES = {
    "0000001": {"title": "First", "year": 1999, "genres": ["Drama", "Romance"],
                "plot": ["Short plot.", "A much longer plot that should win."]},
    "0000002": {"title": "Second", "year": "2004", "genres": ["Comedy"], "plot": "Only plot."},
    "0000003": {"title": "Third", "genres": ["Horror", " "]},
}


# -- the real shared files ----------------------------------------------------------------------


def test_real_movies_csv(shared_data):
    table = read_table(shared_data / "movies.csv")
    assert len(table) == 13_659
    assert int(table.has_poster.sum()) == 6_543
    # 9,411 descriptions, 359 of them placeholders for a missing plot ("Add a Plot »", "nan", ...): not descriptions
    assert int(table.has_description.sum()) == 9_052
    assert int((table.has_poster & table.has_description).sum()) == 2_291
    assert table.problems == []
    assert len(set(table.ids)) == len(table)
    assert all(table.genres)
    first_poster = next(p for p in table.posters if p)
    assert Path(first_poster).is_absolute() and Path(first_poster).is_file()


def test_real_mmimdb_dev_text(shared_data):
    table = read_table(shared_data / "mmimdb_dev_text.csv")
    assert len(table) == 1_951
    assert not table.has_poster.any()
    assert table.has_description.all()
    assert all(table.genres)
    assert len(set(table.ids)) == len(table)


# -- synthetic files of every format ------------------------------------------------------------


def test_shared_csv(tiny_table_csv):
    table = read_table(tiny_table_csv)
    assert len(table) == 60
    assert table.ids[:2] == ["tt0000000", "tt0000001"]
    assert table.frame.loc[0, "year"] == 2000
    assert all(1 <= len(genres) <= 2 for genres in table.genres)
    posters = [p for p in table.posters if p]
    assert len(posters) == 40
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in posters)
    assert int(table.has_description.sum()) == 40


def test_shared_csv_quoting_bom_and_optional_columns(tmp_path):
    text = 'imdb_id,genres,description,title\ntt1,Drama,"Love, loss\nand ""tears""",Été\ntt2,Comedy,,\n'
    path = tmp_path / "m.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    table = read_table(path)
    assert table.descriptions == ['Love, loss\nand "tears"', ""]
    assert table.frame["title"].tolist() == ["Été", ""]
    assert table.posters == ["", ""]
    assert table.frame["year"].isna().all()


def test_shared_tsv(tmp_path):
    path = write(tmp_path / "m.tsv", "imdb_id\tgenres\tdescription\ntt1\tDrama|War\tA, b\n")
    table = read_table(path)
    assert (table.ids, table.genres, table.descriptions) == (["tt1"], [["Drama", "War"]], ["A, b"])


def test_shared_csv_split_column_is_used(tmp_path):
    path = shared_csv(tmp_path, "tt1,,,Drama,,", "tt2,,,Drama,,", "tt3,,,Drama,,")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["split"] = ["train", "validation", "test"]
    frame.to_csv(path, index=False)
    table = read_table(path)
    assert split_for(table, None).tolist() == ["train", "validation", "test"]


def split_csv(tmp_path: Path, *splits: str) -> Path:
    return write(tmp_path / "movies.csv", "imdb_id,genres,description,split\n"
                 + "".join(f"tt{row},Drama,plot {row},{split}\n" for row, split in enumerate(splits, start=1)))


def test_shared_csv_split_column_spellings_and_an_empty_column(tmp_path):
    assert read_table(split_csv(tmp_path, "train", " dev", "val ", "test")).split.tolist() == \
        ["train", "validation", "validation", "test"]
    assert read_table(split_csv(tmp_path, "", " ", "")).split.tolist() == ["", "", ""]  # none given: split by seed


@pytest.mark.parametrize("splits, problem", [
    (("train", "Train", "test"), "row 2, field 'split': unknown split 'Train' (use train, validation or test)"),
    (("train", "", "test"), ("row 2, field 'split': 'tt2' is in no split (give every row train, validation or "
                             "test, or leave the whole column empty to split by seed)")),
])
def test_a_split_column_that_leaves_a_row_out_is_an_error(tmp_path, splits, problem):
    """Such rows were silently left out of training (10 rows of 'Train' in 200: trained on 150/20/20)."""
    path = split_csv(tmp_path, *splits)
    assert error_of(path) == f"{path}: {problem}"
    assert [str(p) for p in read_table(path, strict=False, labelled=None).problems] == [f"{path}: {problem}"]


def test_a_table_to_predict_may_leave_rows_out_of_its_split(tmp_path):
    assert read_table(split_csv(tmp_path, "train", "", "test"), labelled=False).split.tolist() == ["train", "", "test"]
    assert error_of(split_csv(tmp_path, "Train"), labelled=False).endswith("unknown split 'Train' "
                                                                           "(use train, validation or test)")


def test_placeholders_for_a_missing_plot_are_no_description(tmp_path):
    path = shared_csv(tmp_path, "tt1,,,Drama,Add a Plot »,", "tt2,,,Drama, n/a ,", "tt3,,,Drama,nan,",
                      "tt4,,,Drama,Overview Coming Soon...,", "tt5,,,Drama,Add a plot to reach the moon.,",
                      "tt6,,,Drama,Add a Plot &raquo;,", "tt7,,,Drama,ADD A PLOT &#187;,",
                      "tt8,,,Drama,Add a Plot&nbsp;&raquo;,", "tt9,,,Drama,Add a\u00a0Plot\u00a0»,",
                      "tt10,,,Drama,Overview Coming Soon…,", "tt11,,,Drama,Tom &amp; Jerry &raquo; again.,")
    table = read_table(path)
    assert table.descriptions == ["", "", "", "", "Add a plot to reach the moon.", "", "", "", "", "",
                                  "Tom &amp; Jerry &raquo; again."]
    assert table.has_description.tolist() == [False] * 4 + [True] + [False] * 5 + [True]


def test_text_only_csv(tmp_path):
    path = write(tmp_path / "texts.csv", 'description,genres\n"A ghost, at night",Horror|Thriller\nA kiss,Romance\n')
    table = read_table(path)
    assert table.ids == ["texts-1", "texts-2"]
    assert table.descriptions == ["A ghost, at night", "A kiss"]
    assert table.genres == [["Horror", "Thriller"], ["Romance"]]
    assert not table.has_poster.any()


@pytest.mark.parametrize(("column", "value"), [("tconst", "tt0000001"), ("id", "17"), ("imdbID", "x"),
                                               ("key", "tt0000001")])
def test_a_text_only_csv_with_an_id_column_under_another_name_is_refused(tmp_path, column: str, value: str):
    """Read as text only, its ids were dropped for made-up ones: duplicates went unseen, and a split.csv could not be
    joined back to the person's rows."""
    path = write(tmp_path / "t.csv", f"{column},description,genres\n{value},hello,Drama\n{value},hello again,Comedy\n")
    assert error_of(path) == (f"{path}: field '{column}': looks like the movies' ids (name the column imdb_id (a movie "
                              "table), or remove it: a table of description and genres alone is read under made-up "
                              "ids)")


def test_a_genre_given_twice_or_padded_is_one_genre(tmp_path):
    """'Drama|Drama| Comedy ' made three genres for the movie (data inspect's genres_per_movie) and two for the genres'
    counts; a Parquet list kept its spaces: ' Comedy ' was a genre of its own."""
    import pandas as pd

    from moviegenre.data.summary import summarize

    table = read_table(shared_csv(tmp_path, "tt1,A,,Drama|Drama| Comedy ,,"))
    assert table.genres == [["Drama", "Comedy"]] and summarize(table).genres_per_movie == {2: 1}
    pd.DataFrame({"imdb_id": ["tt1"], "genres": [["Drama", "Drama", " Comedy "]]}).to_parquet(tmp_path / "m.parquet")
    assert read_table(tmp_path / "m.parquet").genres == [["Drama", "Comedy"]]


def test_text_only_csv_unlabelled(tmp_path):
    table = read_table(write(tmp_path / "texts.csv", "description\nA ghost\n"), labelled=False)
    assert table.genres == [[]] and not table.is_labelled


def test_one_hot_csv(tmp_path):
    path = one_hot_csv(tmp_path, "tt0000001,\"['Action', 'Drama']\",1,0,1", "tt0000002,['Comedy'],0,1,0")
    table = read_table(path)
    assert table.ids == ["tt0000001", "tt0000002"]
    assert table.genres == [["Action", "Drama"], ["Comedy"]]
    assert table.posters == [str((tmp_path / "Images" / f"{i}.jpg").resolve()) for i in table.ids]
    assert table.descriptions == ["", ""]


def test_one_hot_csv_poster_folder_override(tmp_path):
    path = one_hot_csv(tmp_path, "tt0000001,[],1,0,0", posters=False)
    draw_poster(tmp_path / "elsewhere" / "tt0000001.jpg")
    table = read_table(path, posters=tmp_path / "elsewhere")
    assert table.posters == [str((tmp_path / "elsewhere" / "tt0000001.jpg").resolve())]


def test_mmimdb_folder(tmp_path):
    root = mmimdb_folder(tmp_path, MMIMDB_MOVIES, posters=("0000001",))
    table = read_table(root)
    assert table.ids == ["tt0000001", "tt0000002", "tt0000003"]
    assert table.frame["title"].tolist() == ["First", "Second", "Third"]
    assert table.frame.loc[0, "year"] == 1999 and table.frame.loc[1, "year"] == 2004
    assert pd.isna(table.frame.loc[2, "year"])
    assert table.genres == [["Drama", "Romance"], ["Comedy"], ["Horror"]]
    assert table.descriptions == ["A much longer plot that should win.", "Only plot.", ""]
    assert table.posters == [str((root / "dataset" / "0000001.jpeg").resolve()), "", ""]
    assert table.split is None


def test_mmimdb_split_json_is_used_as_is(tmp_path):
    split = {"train": ["0000003"], "dev": ["0000001"], "test": ["0000002"]}
    table = read_table(mmimdb_folder(tmp_path, MMIMDB_MOVIES, split))
    assert table.split.tolist() == ["validation", "test", "train"]
    assert split_for(table, None).tolist() == ["validation", "test", "train"]


def test_a_movie_split_json_leaves_out_is_an_error(tmp_path):
    """It was in no split, left out of training; and 'data split' wrote it with an empty split that 'train --split'
    then refused."""
    root = mmimdb_folder(tmp_path, MMIMDB_MOVIES, {"train": ["0000001"], "test": ["0000003", "0000009"]})
    problem = (f"{root}: row 2, field 'split': '0000002' is in no split (list every movie in {root / 'split.json'} "
               "under train, dev or test, or remove it to split by seed)")
    assert error_of(root) == problem
    assert [str(p) for p in read_table(root, strict=False, labelled=None).problems] == [problem]
    assert read_table(root, labelled=False).split.tolist() == ["train", "", "test"]  # to predict: its split unused


def test_a_movie_in_two_lists_of_split_json_is_an_error(tmp_path):
    """It went silently to whichever list came last."""
    root = mmimdb_folder(tmp_path, MMIMDB_MOVIES, {"train": ["0000001", "0000002"], "dev": ["0000003"],
                                                   "test": ["0000002"]})
    assert error_of(root) == (f"{root / 'split.json'}: field 'test': '0000002' is listed under both 'train' and "
                              "'test' (list each movie in one split)")


def test_mmimdb_dataset_folder_given_directly(tmp_path):
    root = mmimdb_folder(tmp_path, MMIMDB_MOVIES)
    assert len(read_table(root / "dataset")) == 3


def test_parquet_nulls_stay_empty(tmp_path):
    path = tmp_path / "m.parquet"
    pd.DataFrame({"imdb_id": ["tt1", "tt2"], "title": ["A", None], "year": [2001.0, None],
                  "genres": ["Drama", "Comedy|Drama"], "description": ["text", None],
                  "poster": [None, None]}).to_parquet(path)
    table = read_table(path)
    assert table.descriptions == ["text", ""]
    assert table.posters == ["", ""]
    assert table.frame["title"].tolist() == ["A", ""]
    assert table.frame.loc[0, "year"] == 2001 and pd.isna(table.frame.loc[1, "year"])


def test_parquet_genres_as_lists_and_strings_as_bytes_are_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"imdb_id": pa.array([b"tt1", b"tt2"], pa.binary()), "year": [2001, None],
                             "genres": [["Drama"], ["Comedy", None, "Drama"]],
                             "description": pa.array(["a plot", "another"]).dictionary_encode()}), path)
    table = read_table(path)
    assert table.ids == ["tt1", "tt2"] and table.genres == [["Drama"], ["Comedy", "Drama"]]
    assert table.descriptions == ["a plot", "another"] and table.frame["year"].tolist()[0] == 2001


@pytest.mark.parametrize(("column", "values", "message"), [
    ("genres", [{"a": 1}, {"a": 2}],
     "field 'genres': holds struct<a: int64> values (store it as text or a list of texts)"),
    ("title", [["A"], ["B"]], "field 'title': holds list<element: string> values (store it as text)"),
    ("description", [b"fine", b"caf\xe9"],
     "row 2, field 'description': not UTF-8 text (byte 0xe9) (re-save the table with UTF-8 text)"),
])
def test_parquet_columns_that_are_not_text_are_named(tmp_path, column, values, message):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "m.parquet"
    data = {"imdb_id": ["tt1", "tt2"], "genres": ["Drama", "Comedy"], column: values}
    pq.write_table(pa.table(data), path)
    assert error_of(path) == f"{path}: {message}"


def test_non_strict_keeps_problems(tmp_path):
    path = shared_csv(tmp_path, "tt1,,,Drama,,", "tt1,,,,,")
    table = read_table(path, strict=False)
    assert [(p.row, p.field) for p in table.problems] == [(2, "imdb_id"), (2, "genres")]
    assert len(table) == 2


def test_unlabelled_table_may_lack_genres(tmp_path):
    table = read_table(write(tmp_path / "m.csv", "imdb_id,description\ntt1,hello\n"), labelled=False)
    assert table.genres == [[]]


# -- one-line errors naming the file, row and field ---------------------------------------------


def error_of(path: Path, **kwargs) -> str:
    with pytest.raises(DataError) as caught:
        read_table(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_error_missing_column(tmp_path):
    path = write(tmp_path / "m.csv", "imdb_id,title\ntt1,A\n")
    assert error_of(path) == (f"{path}: field 'genres': missing column 'genres' (found: imdb_id, title) "
                              "(add the column to the header row)")


def test_error_missing_column_text_csv(tmp_path):
    path = write(tmp_path / "t.csv", "description\nhello\n")
    assert error_of(path).startswith(f"{path}: field 'genres': missing column 'genres'")


def test_error_duplicate_id(tmp_path):
    path = shared_csv(tmp_path, "tt1,A,,Drama,,", "tt2,B,,Drama,,", "tt1,C,,Comedy,,")
    assert error_of(path) == (f"{path}: row 3, field 'imdb_id': duplicate id 'tt1' (first seen in row 1)" " (remove or merge the duplicate row)")


def test_error_empty_genres_in_labelled_set(tmp_path):
    path = shared_csv(tmp_path, "tt1,A,,Drama,,", "tt2,B,,,,")
    assert error_of(path) == f"{path}: row 2, field 'genres': no genres in a labelled table (give at least one genre, '|'-separated)"
    assert read_table(path, labelled=False).genres == [["Drama"], []]


def test_error_poster_does_not_exist(tmp_path):
    path = shared_csv(tmp_path, "tt1,A,,Drama,,posters/tt1.jpg")
    poster = tmp_path / "posters" / "tt1.jpg"
    assert error_of(path) == f"{path}: row 1, field 'poster': poster file '{poster}' does not exist (fix the path or leave the field empty)"


def test_error_one_hot_poster_missing(tmp_path):
    path = one_hot_csv(tmp_path, "tt0000001,[],1,0,0", posters=False)
    assert error_of(path).startswith(f"{path}: row 1, field 'poster': poster file '")


def test_error_non_utf8(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(f"{HEADER}\ntt1,A,,Drama,,\ntt2,Caf\xe9,,Drama,,\n".encode("latin-1"))
    assert error_of(path) == f"{path}: line 3 is not UTF-8 text (byte 0xe9) (re-save the file as UTF-8)"


@pytest.mark.parametrize("year", ["abc", "19x9", "inf", "nan"])
def test_error_bad_year(tmp_path, year):
    path = shared_csv(tmp_path, "tt1,A,2001,Drama,,", f"tt2,B,{year},Drama,,")
    assert error_of(path) == (f"{path}: row 2, field 'year': year '{year}' is not a number "
                              "(use a 4-digit year or leave it empty)")


@pytest.mark.parametrize("year", ["-1", "2001.5", "99999999999999999999", "1e300", "12"])
def test_error_year_out_of_range(tmp_path, year):
    path = shared_csv(tmp_path, "tt1,A,2001,Drama,,", f"tt2,B,{year},Drama,,")
    assert error_of(path) == (f"{path}: row 2, field 'year': year '{year}' is not a year between 1850 and 2200 "
                              "(use a 4-digit year or leave it empty)")


@pytest.mark.parametrize(("year", "read"), [("2001.0", 2001), ("0", None), (" 1999 ", 1999), ("\\N", None)])
def test_year_forms_read(tmp_path, year, read):
    table = read_table(shared_csv(tmp_path, f"tt1,A,{year},Drama,,"))
    assert table.frame["year"].tolist() == [read]


@pytest.mark.parametrize("value", ["2", "yes", ""])
def test_error_bad_one_hot_value(tmp_path, value):
    path = one_hot_csv(tmp_path, "tt0000001,[],1,0,0", f"tt0000002,[],0,{value},0")
    assert error_of(path) == (f"{path}: row 2, field 'Comedy': value '{value}' is not 0 or 1 "
                              "(one-hot genre columns hold 0 or 1)")


def test_error_invalid_mmimdb_json(tmp_path):
    root = mmimdb_folder(tmp_path, MMIMDB_MOVIES)
    bad = write(root / "dataset" / "0000002.json", '{"title": "Second", "genres": ["Comedy"')
    assert error_of(root) == (f"{bad}: not valid JSON (Expecting ',' delimiter at line 1) "
                              "(fix or remove the file)")


def test_error_mmimdb_json_not_an_object(tmp_path):
    root = mmimdb_folder(tmp_path, {"0000001": ["Drama"]})
    assert error_of(root) == f"{root / 'dataset' / '0000001.json'}: expected a JSON object (fix or remove the file)"


def test_error_mmimdb_genres_not_a_list(tmp_path):
    root = mmimdb_folder(tmp_path, {"0000001": {"genres": "Drama"}})
    assert error_of(root) == f"{root / 'dataset' / '0000001.json'}: field 'genres': 'genres' must be a list of names"


def test_error_unknown_split_in_split_json(tmp_path):
    root = mmimdb_folder(tmp_path, MMIMDB_MOVIES, {"train": ["0000001"], "holdout": ["0000002"]})
    assert error_of(root) == (f"{root / 'split.json'}: field 'holdout': unknown split 'holdout' "
                              "(use train, dev and test)")


def test_error_invalid_split_json(tmp_path):
    root = mmimdb_folder(tmp_path, MMIMDB_MOVIES)
    write(root / "split.json", "{train: []}")
    assert error_of(root).startswith(f"{root / 'split.json'}: not valid JSON (")


@pytest.mark.parametrize("name, content, problem", [
    ("m.csv", "", "the file is empty (give a CSV with a header row)"),
    ("m.csv", "title,year\nA,2001\n", "field 'imdb_id': missing column 'imdb_id' (found: title, year)"),
    ("m.csv", 'imdb_id,genres\ntt1,Drama\n"tt2,Drama\n', "not a readable CSV: "),
    ("m.csv", 'imdb_id,genres\ntt1,Drama,extra\n"tt2,Drama\n', "row 1: 3 fields, but the header has 2 "),
    ("m.json", "{}", "unsupported file type '.json'"),
])
def test_error_unusable_file(tmp_path, name, content, problem):
    path = write(tmp_path / name, content)
    assert error_of(path).startswith(f"{path}: {problem}")


def test_error_no_such_path(tmp_path):
    assert error_of(tmp_path / "nope.csv") == f"{tmp_path / 'nope.csv'}: no such file or folder (check the path)"


def test_error_named_pipe(tmp_path):
    os.mkfifo(tmp_path / "m.csv")  # read, it would wait for a writer forever
    assert error_of(tmp_path / "m.csv").startswith(f"{tmp_path / 'm.csv'}: not a regular file or folder")


def test_error_empty_folder(tmp_path):
    assert error_of(tmp_path).startswith(f"{tmp_path}: no <id>.json files found")


@pytest.mark.parametrize("id_column", ["tconst", "id"])
def test_a_project_table_whose_id_column_is_named_otherwise_is_refused_not_read_as_text_only(tmp_path, id_column):
    """It was read as a text-only CSV: its posters and titles dropped, its ids made up (texts-1, ...), silently."""
    path = write(tmp_path / "texts.csv", f"{id_column},title,genres,description,poster\ntt0000001,A,Horror,A ghost,\n")
    with pytest.raises(DataError) as caught:
        read_table(path, labelled=False)
    assert str(caught.value) == (f"{path}: field 'imdb_id': missing column 'imdb_id' (found: {id_column}, title, "
                                 "genres, description, poster) (add the column to the header row)")



@pytest.mark.parametrize(("name", "text", "looks"), [
    ("semi.csv", "imdb_id;title;description\ntt1;A;a story\n", "'imdb_id;title;description': the file looks semicolon"),
    ("tabs.csv", "imdb_id\ttitle\tdescription\ntt1\tA\ta story\n",
     "'imdb_id\\ttitle\\tdescription': the file looks tab"),
    ("commas.tsv", "imdb_id,title,description\ntt1,A,a story\n", "'imdb_id,title,description': the file looks comma"),
])
def test_a_table_with_another_separator_is_named_as_such(tmp_path, name, text, looks):
    """A spreadsheet's semicolon export was 'row 1: 2 fields, but the header has 1 (put double quotes around values
    that contain commas)', or 'unrecognised columns', which sent the person after quotes or column names."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError) as caught:
        read_table(path, labelled=False)
    assert str(caught.value) == (f"{path}: the header is one column, {looks}-separated (give a .csv file "
                                 "comma-separated, or a .tsv file tab-separated)")


def test_a_one_column_table_whose_header_holds_no_separator_is_read(tmp_path):
    path = tmp_path / "plots.csv"
    path.write_text('description\n"a story; of love, and loss"\n')
    assert read_table(path, labelled=False).descriptions == ["a story; of love, and loss"]


def test_an_mmimdb_year_that_does_not_parse_is_listed_not_raised_when_reading_leniently(tmp_path):
    """As a CSV's: 'data inspect' lists it among the others, and predict-table reads it as unknown; it raised."""
    movies = {**MMIMDB_MOVIES, "0000002": {**MMIMDB_MOVIES["0000002"], "year": "20o4"}}
    folder = mmimdb_folder(tmp_path, movies)
    problem = (f"{folder}/dataset/0000002.json: row 1, field 'year': year '20o4' is not a number (use a 4-digit year "
               "or leave it empty)")
    table = read_table(folder, strict=False)
    assert [str(p) for p in table.problems] == [problem] and table.frame["year"].isna().tolist() == [False, True, True]
    with pytest.raises(DataError, match=re.escape(problem)):
        read_table(folder)
