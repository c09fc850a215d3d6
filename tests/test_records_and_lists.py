"""Records given in memory and lists given to the API: missing values read as empty, ordinary values kept as
given, and a value that cannot be read (or one string where a list is expected) is a one-line error naming it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moviegenre.data.table import MovieTable
from moviegenre.errors import ConfigError, DataError
from moviegenre.serving.compare import compare
from moviegenre.serving.explain import Explainer
from test_explain import BrightCornerScorer, bright_corner_poster


def one(record: dict) -> dict:
    return MovieTable.from_records([record], source="m.csv").frame.iloc[0].to_dict()


def test_records_from_read_csv_read_missing_values_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("imdb_id,title,year,genres,description,poster\ntt1,,,Drama,,\ntt2,Two,2001,,a plot,p.png\n")
    table = MovieTable.from_records(pd.read_csv(path).to_dict("records"))  # NaN in every empty cell
    assert table.titles == ["", "Two"] and table.posters == ["", "p.png"]
    assert table.has_poster.tolist() == [False, True] and table.genres == [["Drama"], []]
    years = table.frame["year"].tolist()
    assert pd.isna(years[0]) and years[1] == 2001  # a column with a missing year is float, as a CSV's


@pytest.mark.parametrize("missing", [None, math.nan, np.float64("nan"), pd.NA, pd.NaT])
def test_every_missing_value_is_empty(missing) -> None:
    row = one({"imdb_id": "tt1", "title": missing, "year": missing, "genres": missing, "description": missing,
               "poster": missing})
    assert (row["title"], row["year"], row["genres"], row["description"], row["poster"]) == ("", None, [], "", "")


def test_falsy_values_are_kept_as_text() -> None:
    row = one({"imdb_id": 0, "title": 0})
    assert (row["imdb_id"], row["title"]) == ("0", "0")


def test_bytes_are_decoded_as_utf8_and_a_poster_kept_as_the_image() -> None:
    row = one({"imdb_id": b"tt1", "title": bytearray("Amélie".encode()), "description": b"a heist",
               "genres": b"Crime|Drama", "poster": bytearray(b"\x89PNG")})
    assert (row["imdb_id"], row["title"], row["description"]) == ("tt1", "Amélie", "a heist")
    assert row["genres"] == ["Crime", "Drama"] and row["poster"] == b"\x89PNG"  # as Predictor passes an upload
    with pytest.raises(DataError, match=r"^m\.csv: row 1, field 'description': not UTF-8 text \(byte 0xff\)"):
        one({"imdb_id": "tt1", "description": b"\xff heist"})


@pytest.mark.parametrize("year, expected", [("\\N", None), ("", None), (" 1999 ", 1999), (2001.0, 2001),
                                            (np.int64(1984), 1984)])
def test_years_are_read_as_a_csv_reads_them(year, expected) -> None:
    assert one({"imdb_id": "tt1", "year": year})["year"] == expected


@pytest.mark.parametrize("year", ["n/a", True, "1999.5", -1])
def test_a_bad_year_names_its_row_and_field(year) -> None:
    records = [{"imdb_id": "tt1"}, {"imdb_id": "tt2", "year": year}]
    with pytest.raises(DataError, match=r"^m\.csv: row 2, field 'year': year '.*' is not a") as error:
        MovieTable.from_records(records, source="m.csv")
    assert "\n" not in str(error.value)


def test_genres_are_text_or_a_list_of_text() -> None:
    assert one({"imdb_id": "tt1", "genres": ("Drama", "Crime")})["genres"] == ["Drama", "Crime"]
    for genres, shown in ((5, "5"), ([None, 3], "genre None"), ({"Drama": 1}, r"\{'Drama': 1\}")):
        with pytest.raises(DataError, match=rf"^m\.csv: row 1, field 'genres': {shown} is not text"):
            one({"imdb_id": "tt1", "genres": genres})


def test_an_unknown_key_is_named_with_the_known_ones() -> None:
    with pytest.raises(DataError, match=r"row 1, field 'descripton': unknown field 'descripton' \(known fields: "
                                        r"imdb_id, title, year, genres, description, poster, split\)"):
        one({"imdb_id": "tt1", "descripton": "A haunted house."})


class NoModel:
    """A predictor whose model must not be reached: the arguments are refused before any variant is scored."""

    genres = ("Comedy", "Horror")

    def predict_many(self, *args, **kwargs):
        pytest.fail("variants were scored")


@pytest.mark.parametrize("posters, descriptions, intended, expected", [
    (["a.jpg"], "A haunted house.", None,
     "descriptions: a single string (give a list of descriptions, e.g. ['A haunted house.'])"),
    ("a.jpg", None, None, "posters: a single string (give a list of posters, e.g. ['a.jpg'])"),
    (Path("a.jpg"), None, None, "posters: a single PosixPath (give a list of posters, e.g. ['a.jpg'])"),
    (b"\x89PNG", None, None, "posters: a single bytes (give a list of posters, e.g. [...])"),
    (["a.jpg"], None, "Horror", "genres: a single string (give a list of genres, e.g. ['Horror'])"),
])
def test_compare_refuses_one_string_for_a_list(posters, descriptions, intended, expected) -> None:
    with pytest.raises(DataError) as error:
        compare(NoModel(), posters, descriptions, intended)
    assert str(error.value) == expected


def test_explain_refuses_one_genre_string() -> None:
    explainer = Explainer(BrightCornerScorer())
    with pytest.raises(DataError, match=r"^genres: a single string \(give a list of genres, e.g. \['Comedy'\]\)$"):
        explainer.explain(description="ghost", genres="Comedy")
    assert explainer.explain(description="a ghost", genres=["comedy"]).genres == ["Comedy"]


@pytest.mark.parametrize("top", [0, -5])
def test_explain_refuses_a_top_below_one_as_the_cli_does(top) -> None:
    with pytest.raises(ConfigError, match=f"^top {top}: give at least 1$"):
        Explainer(BrightCornerScorer()).explain(bright_corner_poster(), "a ghost", top=top)
