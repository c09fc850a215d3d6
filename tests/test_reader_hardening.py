"""Hostile movie tables and posters: each is one line naming the file (and row or field), exit code 2, no traceback.

Covers CSV rows whose field count differs from the header's, damaged Parquet tables, hostile MM-IMDb JSON, JPEGs
with a malformed EXIF block, and posters over the size limit reaching the feature cache.
"""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from conftest import run_moviegenre
from moviegenre.data import readers
from moviegenre.data.images import MAX_IMAGE_BYTES, load_image
from moviegenre.data.readers import MAX_JSON_BYTES, MIN_PARQUET_LIMIT, read_json, read_table
from moviegenre.errors import DataError, ImageError
from moviegenre.features.cache import file_keys


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def inspect_error(monkeypatch, capsys, path: Path) -> str:
    """``data inspect``'s error line for ``path``, after checking it failed in one line with exit code 2."""
    code, out, err = run_moviegenre(monkeypatch, capsys, "data", "inspect", path)
    assert (code, out, err.count("\n")) == (2, "", 1) and "Traceback" not in err, err
    return err


# -- CSV rows whose field count differs from the header's -------------------------------------------------------------

@pytest.mark.parametrize("name, text, problem", [
    ("comma.csv", "imdb_id,description\ntt1,A man, with a gun\ntt2,A woman alone\n",
     "row 1: 3 fields, but the header has 2 (put double quotes around values that contain commas)"),
    ("later.csv", "imdb_id,genres,description\ntt1,Drama,a plot\n\ntt2,Comedy,b plot,extra\n",
     "row 2: 4 fields, but the header has 3 (put double quotes around values that contain commas)"),
    ("short.csv", "imdb_id,genres,description\ntt1,Drama,a plot\ntt2,Comedy\n",
     "row 2: 2 fields, but the header has 3 (give every column a value, even an empty one)"),
    ("tab.tsv", "imdb_id\tdescription\ntt1\tA man\twith a gun\n",
     "row 1: 3 fields, but the header has 2 (put double quotes around values that contain tabs)"),
    ("twice.csv", "imdb_id,imdb_id,genres\ntt1,tt2,Drama\n",
     "field 'imdb_id': column 'imdb_id' appears more than once in the header (rename or remove the repeated column)"),
    ("quote.csv", 'imdb_id,genres\ntt1,Drama\ntt2,"Comedy\n',
     "not a readable CSV: unexpected end of data, in the row starting on line 3 (check quoting)"),
], ids=["unquoted comma", "later row", "short row", "tsv", "repeated column", "open quote"])
def test_a_csv_row_that_does_not_fit_the_header_is_one_line_naming_the_row(monkeypatch, capsys, tmp_path, name, text,
                                                                           problem):
    path = write(tmp_path / name, text)
    assert inspect_error(monkeypatch, capsys, path) == f"error: {path}: {problem}\n"


def test_quoted_commas_and_blank_lines_still_read_as_before(tmp_path):
    path = write(tmp_path / "m.csv", 'imdb_id,genres,description\n\ntt1,Drama,"A man, with a gun"\n\n'
                                     'tt2,Comedy,"two\nlines"\n\n')
    frame = read_table(path).frame
    assert list(frame["imdb_id"]) == ["tt1", "tt2"]
    assert list(frame["description"]) == ["A man, with a gun", "two\nlines"]


# -- damaged Parquet tables ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["empty", "not parquet", "truncated"])
def test_a_damaged_parquet_table_is_one_line_naming_it(monkeypatch, capsys, tmp_path, damage):
    good = io.BytesIO()
    pd.DataFrame({"imdb_id": ["tt1", "tt2"], "genres": ["Drama", "Comedy"]}).to_parquet(good)
    data = {"empty": b"", "not parquet": b"imdb_id,genres\n", "truncated": good.getvalue()[:-20]}[damage]
    path = write(tmp_path / "movies.parquet", data)
    err = inspect_error(monkeypatch, capsys, path)
    assert err.startswith(f"error: {path}: not a readable Parquet table (")
    assert err.endswith(") (re-export it, or give a CSV)\n")


def bomb_columns(kind: str, rows: int = 1_000) -> dict[str, pa.Array]:
    """A 100,000-character text stored once and held by every row (a dictionary), in column ``kind``; or rows of
    nulls, stored in a few bytes a page."""
    text = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["x" * 99_999]))
    columns = {"imdb_id": pa.array([f"tt{row}" for row in range(rows)]), "genres": pa.array(["Drama"] * rows)}
    if kind == "genres":  # as a list of names
        columns["genres"] = pa.ListArray.from_arrays(pa.array(np.arange(rows + 1, dtype=np.int32)), text)
    elif kind == "unused":  # a column the reader does not use, but read all the same
        columns["notes"] = pa.StructArray.from_arrays([text], ["note"])
    elif kind == "rows":
        columns = {"imdb_id": pa.nulls(1_500_000), "genres": pa.nulls(1_500_000)}
    else:
        columns[kind] = text
    return columns


@pytest.mark.parametrize("kind", ["description", "genres", "unused", "rows"])
def test_a_parquet_table_that_decompresses_far_beyond_its_size_is_refused_before_it_is_decoded(
        monkeypatch, capsys, tmp_path, kind):
    """A 9 kB file of 4,000 rows holding a 99,999-character description took 1.37 GB in 'data inspect'."""
    path = tmp_path / "bomb.parquet"
    pq.write_table(pa.table(bomb_columns(kind)), path, compression="zstd")
    assert path.stat().st_size * 200 < MIN_PARQUET_LIMIT
    problem = (f"{path}: would take over {MIN_PARQUET_LIMIT:,} bytes decompressed, more than 200 times its size on "
               "disk (a decompression bomb? if not, save the table as a CSV)")
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as caught:
            read_table(path, strict=False, labelled=None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == problem
    assert peak < MIN_PARQUET_LIMIT // 4  # its text never became Python strings
    assert inspect_error(monkeypatch, capsys, path) == f"error: {problem}\n"


def test_a_parquet_table_is_read_up_to_200_times_its_size(monkeypatch, tmp_path):
    monkeypatch.setattr(readers, "MIN_PARQUET_LIMIT", 0)  # the allowance of small files aside
    path = tmp_path / "movies.parquet"
    pq.write_table(pa.table(bomb_columns("description", rows=3)), path)
    assert 99_999 * 3 < 200 * path.stat().st_size  # its text compresses, and is stored once, but is read
    assert read_table(path).descriptions == ["x" * 99_999] * 3
    pq.write_table(pa.table(bomb_columns("description", rows=60)), path, compression="zstd")
    with pytest.raises(DataError, match=f"^{path}: would take over {200 * path.stat().st_size:,} bytes decompressed"):
        read_table(path)


# -- hostile MM-IMDb JSON ----------------------------------------------------------------------------------------------

GOOD_MOVIE = '{"title": "A", "genres": ["Drama"], "plot": "x"}'
DEEP = "[" * 100_000 + "]" * 100_000
LONG = "1" * 4_301  # Python converts an integer of at most 4,300 digits


def mmimdb_folder(tmp_path: Path, movie: str | None = GOOD_MOVIE, split: str | None = None) -> Path:
    root = tmp_path / "mmimdb"
    (root / "dataset").mkdir(parents=True)
    if movie is not None:
        write(root / "dataset" / "0000001.json", movie)
    if split is not None:
        write(root / "split.json", split)
    return root


@pytest.mark.parametrize("movie, split, named, problem", [
    ('{"plot": ' + DEEP + "}", None, "dataset/0000001.json", "JSON nested too deeply (fix or remove the file)"),
    ('{"genres": ["Drama"], "plot": [1, 2]}', None, "dataset/0000001.json",
     "field 'plot': 'plot' must be a text or a list of texts"),
    ('{"genres": ["Drama"], "plot": {"a": 1}}', None, "dataset/0000001.json",
     "field 'plot': 'plot' must be a text or a list of texts"),
    ('{"genres": [{"a": 1}]}', None, "dataset/0000001.json", "field 'genres': 'genres' must be a list of names"),
    ('{"genres": ["Drama"], "title": ["A"]}', None, "dataset/0000001.json", "field 'title': 'title' must be a text"),
    ('{"genres": ["Drama"], "year": ' + LONG + "}", None, "dataset/0000001.json",
     "not valid JSON (a number of more than 4,300 digits) (fix or remove the file)"),
], ids=["deep movie", "plot of numbers", "plot object", "genre object", "title list", "long number"])
def test_hostile_mmimdb_json_is_one_line_naming_the_file_and_field(monkeypatch, capsys, tmp_path, movie, split,
                                                                   named, problem):
    root = mmimdb_folder(tmp_path, movie, split)
    assert inspect_error(monkeypatch, capsys, root) == f"error: {root / named}: {problem}\n"


@pytest.mark.parametrize("split, problem", [
    ('{"train": 5}', "field 'train': 'train' must be a list of ids (fix or remove the file)"),
    ('{"train": ' + DEEP + "}", "JSON nested too deeply (fix or remove the file)"),
    ('{"train": [' + LONG + "]}", "not valid JSON (a number of more than 4,300 digits) (fix or remove the file)"),
], ids=["split not a list", "deep split", "long number in split"])
def test_hostile_split_json_is_one_line_naming_the_file(monkeypatch, capsys, tmp_path, split, problem):
    """train refuses it in one line; inspect lists it among the table's problems, one line too."""
    root = mmimdb_folder(tmp_path, split=split)
    code, out, err = run_moviegenre(monkeypatch, capsys, "train", root, "--out", tmp_path / "run")
    assert (code, out, err) == (2, "", f"error: {root / 'split.json'}: {problem}\n")
    code, out, err = run_moviegenre(monkeypatch, capsys, "data", "inspect", root, "--min-genre-count", "1")
    assert (code, err) == (0, "") and f"1 problem\n  {root / 'split.json'}: {problem}\n" in out


def test_a_run_file_holding_an_overlong_number_is_one_line_naming_it(tmp_path):
    """read_json reads a run's files too (resume state, model.json): Python's ValueError came out as a traceback."""
    path = write(tmp_path / "resume.json", '{"seed": ' + LONG + "}")
    with pytest.raises(DataError) as caught:
        read_json(path, hint="delete it")
    assert str(caught.value) == f"{path}: not valid JSON (a number of more than 4,300 digits) (delete it)"


def test_a_folder_or_a_huge_file_named_like_an_mmimdb_json_is_one_line_naming_it(monkeypatch, capsys, tmp_path):
    root = mmimdb_folder(tmp_path, movie=None)
    folder = root / "dataset" / "0000001.json"
    folder.mkdir()
    assert inspect_error(monkeypatch, capsys, root) == (f"error: {folder}: not a regular file "
                                                        "(remove it or give it another name)\n")
    folder.rmdir()
    with folder.open("wb") as handle:  # sparse: no disk used
        handle.truncate(MAX_JSON_BYTES + 1)
    assert inspect_error(monkeypatch, capsys, root) == (f"error: {folder}: over the {MAX_JSON_BYTES:,} byte limit "
                                                        "(fix or remove the file)\n")


# -- images: a malformed EXIF block, posters over the size limit ----------------------------------------------------

def jpeg_with_malformed_exif(path: Path) -> Path:
    """A JPEG whose EXIF says 'rotate' (so it is rewritten on loading) and holds TileOffsets, a number, as text."""
    def entry(tag: int, kind: int, count: int, value: bytes) -> bytes:
        return tag.to_bytes(2, "big") + kind.to_bytes(2, "big") + count.to_bytes(4, "big") + value

    tiff = (b"MM\x00\x2a" + (8).to_bytes(4, "big") + (2).to_bytes(2, "big")
            + entry(0x0144, 2, 4, b"cam\x00")  # TileOffsets: LONGs by the spec, ASCII here
            + entry(0x0112, 3, 1, (6).to_bytes(2, "big") + b"\x00\x00")  # Orientation: rotate 90 degrees
            + b"\x00\x00\x00\x00")
    Image.new("RGB", (60, 90), (200, 30, 40)).save(path, "JPEG", exif=b"Exif\x00\x00" + tiff)
    return path


def test_a_jpeg_with_a_malformed_exif_block_is_one_line_naming_it(monkeypatch, capsys, tmp_path):
    path = jpeg_with_malformed_exif(tmp_path / "bad_exif.jpg")
    problem = f"{path}: damaged or truncated image ("
    with pytest.raises(ImageError) as caught:
        load_image(path, size=64)
    assert str(caught.value).startswith(problem) and str(caught.value).endswith("(re-download or re-export it)")
    code, _, err = run_moviegenre(monkeypatch, capsys, "predict", "--poster", path)
    assert code == 2 and err.startswith(f"error: {problem}") and err.count("\n") == 1 and "Traceback" not in err


def test_the_project_s_own_image_errors_are_not_reworded(tmp_path):
    path = tmp_path / "thin.png"
    Image.new("RGB", (2000, 20)).save(path)
    with pytest.raises(ImageError, match=r"more elongated than 10:1 \(crop it to the poster\)$"):
        load_image(path)


def test_the_feature_cache_applies_the_size_limit_before_reading_a_poster(tmp_path):
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as handle:  # sparse: no disk used
        handle.truncate(MAX_IMAGE_BYTES + 1)
    tracemalloc.start()
    try:
        with pytest.raises(ImageError, match=f"^{huge}: {MAX_IMAGE_BYTES + 1:,} bytes, over the "
                                             f"{MAX_IMAGE_BYTES:,} byte limit"):
            file_keys([str(huge)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_IMAGE_BYTES // 8  # the file was never read whole
    with pytest.raises(ImageError, match=f"^{tmp_path}: not a regular file"):
        file_keys([str(tmp_path)])


def test_the_feature_cache_still_keys_posters_by_content(tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("RGB", (8, 12), (1, 2, 3)).save(first)
    second.write_bytes(first.read_bytes())
    keys, path_of = file_keys([str(first), "", str(second), first.read_bytes()])
    assert keys[0] == keys[2] == keys[3] and keys[1] == "" and path_of == {keys[0]: str(first)}


def test_a_one_hot_poster_that_is_a_symlink_loop_is_a_problem_of_its_row(tmp_path):
    table = write(tmp_path / "train.csv", 'Id,Genre,Drama,Comedy\ntt1,"[Drama]",1,0\n')
    (tmp_path / "Images").mkdir()
    (tmp_path / "Images" / "tt1.jpg").symlink_to(tmp_path / "Images" / "tt1.jpg")  # a loop of one link
    with pytest.raises(DataError, match=r"train.csv: row 1, field 'poster': poster file .*tt1.jpg': is a symlink loop"):
        read_table(table)  # was Path.resolve's RuntimeError


def test_an_mmimdb_poster_that_is_a_symlink_loop_is_a_problem_of_its_row(tmp_path):
    folder = mmimdb_folder(tmp_path)
    loop = next((folder / "dataset").glob("*.json")).with_suffix(".jpeg")
    loop.symlink_to(loop)
    with pytest.raises(DataError, match=r"row 1, field 'poster': poster file .*\.jpeg': is a symlink loop"):
        read_table(folder)  # was read as no poster, without a word


def test_a_poster_given_as_a_url_is_named_as_one(tmp_path):
    table = write(tmp_path / "movies.csv", "imdb_id,genres,poster\ntt1,Drama,https://example.com/p.jpg\n")
    with pytest.raises(DataError, match=r"movies.csv: row 1, field 'poster': poster 'https://example.com/p.jpg' is a "
                                        r"URL, not a file \(download the posters first"):
        read_table(table)  # was "poster file '<folder>/https:/example.com/p.jpg' does not exist"
