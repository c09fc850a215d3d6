"""The Python API refuses a value of the wrong type or shape in one line naming the argument, as the CLI does,
instead of a bare TypeError or ValueError from deep inside (pathlib, tuple unpacking, Pillow)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from conftest import draw_poster
from moviegenre.data.images import poster_source
from moviegenre.data.readers import read_table
from moviegenre.errors import DataError, ImageError
from moviegenre.serving.predictor import Predictor

DESCRIPTION = "A ghost haunts the night; blood and a scream in the dark."
ITEM_HINT = r" \(give a \(poster, description\[, title\]\) tuple or a dict of those keys\)$"


@pytest.fixture(scope="module")
def predictor(session_quick_run: Path) -> Predictor:
    return Predictor(session_quick_run)


# -- predict_many's items ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("items", "message"), [
    (["abc"], r"^items\[0\]: type str is not an item" + ITEM_HINT),
    ([(None, DESCRIPTION), ("x",)], r"^items\[1\]: a tuple of length 1, not 2 or 3" + ITEM_HINT),
    ([[None, DESCRIPTION, "Title", "extra"]], r"^items\[0\]: a list of length 4, not 2 or 3" + ITEM_HINT),
    ([5], r"^items\[0\]: type int is not an item" + ITEM_HINT),
    ([{"description": DESCRIPTION, "image": "p.png"}],
     r"^items\[0\]: unknown key 'image' \(use poster, description, title\)$"),
    (None, r"^items: type NoneType is not a list of items \(give a list of \(poster, description\[, title\]\) tuples"),
    ({"description": DESCRIPTION}, r"^items: type dict is not a list of items"),
])
def test_predict_many_refuses_a_malformed_item_naming_its_index(predictor: Predictor, items, message: str) -> None:
    with pytest.raises(DataError, match=message):
        predictor.predict_many(items)


def test_predict_many_takes_tuples_lists_and_dicts_alike(predictor: Predictor) -> None:
    expected = predictor.predict(description=DESCRIPTION, title="Movie 7")
    items = [(None, DESCRIPTION, "Movie 7"), [None, DESCRIPTION, "Movie 7"],
             {"description": DESCRIPTION, "title": "Movie 7"}, {"poster": None, "description": DESCRIPTION,
                                                                 "title": "Movie 7"}]
    assert predictor.predict_many(items) == [expected] * len(items)
    assert predictor.predict_many(iter([(None, DESCRIPTION)])) == [predictor.predict(description=DESCRIPTION)]


def test_a_malformed_item_is_returned_in_place_with_return_exceptions(predictor: Predictor) -> None:
    results = predictor.predict_many([("x",), (None, DESCRIPTION)], return_exceptions=True)
    assert isinstance(results[0], DataError) and str(results[0]).startswith("items[0]: a tuple of length 1")
    assert results[1] == predictor.predict(description=DESCRIPTION)


# -- path arguments ----------------------------------------------------------------------------------------------
NOT_PATHS = [(123, "int"), (None, "NoneType"), (b"sub.csv", "bytes"), (["run1"], "list")]


@pytest.mark.parametrize(("path", "kind"), NOT_PATHS)
def test_read_table_refuses_a_path_that_is_not_one(path: object, kind: str) -> None:
    with pytest.raises(DataError, match=rf"^path: type {kind} is not a path \(give a str or os.PathLike\)$"):
        read_table(path)


@pytest.mark.parametrize(("path", "kind"), [case for case in NOT_PATHS if case[0] is not None])  # None: default
def test_predictor_refuses_a_run_folder_that_is_not_a_path(path: object, kind: str) -> None:
    with pytest.raises(DataError, match=rf"^run_dir: type {kind} is not a path \(give a str or os.PathLike\)$"):
        Predictor(path)


def test_a_run_folder_and_a_table_are_taken_as_a_str_or_a_path(session_quick_run: Path,
                                                                session_tiny_table_csv: Path) -> None:
    assert Predictor(str(session_quick_run)).run_dir == Predictor(session_quick_run).run_dir
    assert len(read_table(str(session_tiny_table_csv))) == len(read_table(session_tiny_table_csv)) == 60


# -- PIL posters -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(0, 0), (0, 5), (5, 0)])
def test_an_empty_pil_poster_is_refused_naming_the_field(predictor: Predictor, size: tuple[int, int]) -> None:
    empty = rf"^poster: empty image \({size[0]}x{size[1]} pixels\) \(give a poster that has pixels\)$"
    with pytest.raises(ImageError, match=empty):
        predictor.predict(poster=Image.new("RGB", size), description=DESCRIPTION)


def closed_by_close(path: Path) -> Image.Image:
    image = Image.open(path)
    image.load()
    image.close()
    return image


def closed_unread(path: Path) -> Image.Image:
    with Image.open(path) as image:  # the file closes before the pixels were read
        pass
    return image


@pytest.mark.parametrize("close", [closed_by_close, closed_unread])
def test_a_closed_pil_poster_is_refused_naming_the_field(predictor: Predictor, tmp_path: Path, close) -> None:
    image = close(draw_poster(tmp_path / "p.png"))
    with pytest.raises(ImageError, match=r"^poster: the PIL image is closed \(give it before closing it, or a copy"):
        predictor.predict(poster=image, description=DESCRIPTION)


def test_a_truncated_pil_poster_is_refused_naming_the_field(tmp_path: Path) -> None:
    data = draw_poster(tmp_path / "p.png", size=(300, 400)).read_bytes()
    image = Image.open(io.BytesIO(data[: len(data) // 2]))  # opened lazily: the pixels are read when needed
    with pytest.raises(ImageError, match=r"^cover: damaged or truncated image \(.*\) \(re-download or re-export"):
        poster_source(image, field="cover")


def test_an_open_pil_poster_is_read_as_its_file_is(tmp_path: Path) -> None:
    path = draw_poster(tmp_path / "p.png")
    with Image.open(path) as image:
        encoded = poster_source(image)
    assert Image.open(io.BytesIO(encoded)).tobytes() == Image.open(path).convert("RGB").tobytes()


@pytest.mark.parametrize("table, out, named", [(123, "p.csv", "table"), ("t.csv", None, "out")])
def test_predict_file_names_a_path_that_is_not_one(table, out, named) -> None:
    from moviegenre.serving.batch import predict_file

    with pytest.raises(DataError, match=rf"^{named}: type \w+ is not a path"):
        predict_file(table, out)
