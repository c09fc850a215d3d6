"""The data layer shared by the readers and batch prediction: one Parquet bound, one text decoder, one atomic write."""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from moviegenre.data import readers
from moviegenre.data.readers import MIN_PARQUET_LIMIT, iter_table_chunks, read_table
from moviegenre.data.table import MovieTable, atomic_write_bytes, atomic_write_file
from moviegenre.errors import DataError
from moviegenre.serving.batch import predict_file


def write_bomb(path, rows: int) -> None:
    """A 100,000-character description stored once (a dictionary) and held by every row: a few kB on disk."""
    text = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["x" * 99_999]))
    pq.write_table(pa.table({"imdb_id": pa.array([f"tt{row}" for row in range(rows)]),
                             "genres": pa.array(["Drama"] * rows), "description": text}), path, compression="zstd")


def over_limit(path, limit: int) -> str:
    return (f"{path}: would take over {limit:,} bytes decompressed, more than 200 times its size on disk "
            "(a decompression bomb? if not, save the table as a CSV)")


def test_predicting_a_parquet_bomb_is_refused_as_reading_it_is_before_its_text_is_decoded(tmp_path):
    """A 9.9 kB file of 4,000 such rows took 7.7 GB in 'predict-table', which streamed it unbounded."""
    path = tmp_path / "bomb.parquet"
    write_bomb(path, 1_000)
    with pytest.raises(DataError) as read:
        read_table(path, labelled=False)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as predicted:
            predict_file(path, tmp_path / "out.parquet", tmp_path / "no-model", progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(predicted.value) == str(read.value) == over_limit(path, MIN_PARQUET_LIMIT)
    assert peak < MIN_PARQUET_LIMIT // 4  # its text never became Python strings
    assert not (tmp_path / "out.parquet.parts").exists()


def test_a_streamed_parquet_table_is_bounded_as_a_whole_not_batch_by_batch(monkeypatch, tmp_path):
    monkeypatch.setattr(readers, "MIN_PARQUET_LIMIT", 0)  # the allowance of small files aside
    path = tmp_path / "movies.parquet"
    write_bomb(path, 60)
    limit = 200 * path.stat().st_size
    assert 99_999 * 2 < limit < 99_999 * 60  # each batch of 2 rows is under the limit; the table is not
    chunks = iter_table_chunks(path, 2)
    assert len(next(chunks)) == 2  # a batch under the limit is read...
    with pytest.raises(DataError) as caught:
        list(chunks)  # ... until the batches read take the table over it
    assert str(caught.value) == over_limit(path, limit)


def test_a_streamed_parquet_table_reads_as_the_whole_table_does(tmp_path):
    path = tmp_path / "movies.parquet"
    genres = pa.array([["Drama", "Comedy"], [], None, ["Horror"], ["Drama"]], type=pa.list_(pa.large_string()))
    descriptions = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0, None, 1], type=pa.int32()),
                                                  pa.array(["a ghost", b"caf\xc3\xa9"], type=pa.binary()))
    pq.write_table(pa.table({"imdb_id": [f"tt{row}" for row in range(5)], "genres": genres,
                             "description": descriptions, "year": pa.array([2001, None, 1999, 0, 2020]),
                             "notes": pa.array([{"a": 1}] * 5)}), path)
    whole = read_table(path, labelled=False)
    for rows in (1, 2, 5):
        streamed = list(iter_table_chunks(path, rows))
        assert [len(chunk) for chunk in streamed] == [min(rows, 5 - start) for start in range(0, 5, rows)]
        joined = pd.concat([chunk.frame for chunk in streamed], ignore_index=True)
        pd.testing.assert_frame_equal(joined.drop(columns="year"), whole.frame.drop(columns="year"))
        assert [None if pd.isna(year) else year for year in joined["year"]] == [2001, None, 1999, None, 2020]
    assert [None if pd.isna(year) else year for year in whole.frame["year"]] == [2001, None, 1999, None, 2020]
    assert whole.descriptions == ["a ghost", "café", "a ghost", "", "café"]
    assert whole.genres == [["Drama", "Comedy"], [], [], ["Horror"], ["Drama"]]


def test_bytes_that_are_not_utf8_are_named_alike_in_a_record_and_a_parquet_table_with_their_own_hint(tmp_path):
    path = tmp_path / "movies.parquet"
    pq.write_table(pa.table({"imdb_id": ["tt1", "tt2"], "genres": ["Drama", "Drama"],
                             "description": pa.array([b"fine", b"caf\xe9"], type=pa.binary())}), path)
    with pytest.raises(DataError) as read:
        read_table(path)
    assert str(read.value) == (f"{path}: row 2, field 'description': not UTF-8 text (byte 0xe9) "
                               "(re-save the table with UTF-8 text)")
    with pytest.raises(DataError) as given:
        MovieTable.from_records([{"imdb_id": "tt1"}, {"imdb_id": "tt2", "title": bytearray(b"caf\xe9")}], source="m")
    assert str(given.value) == "m: row 2, field 'title': not UTF-8 text (byte 0xe9) (give it as text, or as bytes in UTF-8)"


def test_an_atomic_write_that_fails_leaves_neither_the_file_nor_a_temporary_one(tmp_path):
    out = tmp_path / "out.parquet"

    def dies(tmp):
        tmp.write_bytes(b"half a file")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_file(out, dies)
    assert os.listdir(tmp_path) == []

    def full(tmp):
        raise OSError(28, "No space left on device")

    with pytest.raises(DataError, match=f"^{out}: cannot write it \\(No space left on device\\)"):
        atomic_write_file(out, full)
    assert os.listdir(tmp_path) == []


def test_an_atomic_write_to_a_path_gives_the_file_the_usual_permissions(tmp_path):
    atomic_write_file(tmp_path / "a.parquet", lambda tmp: pd.DataFrame({"x": [1]}).to_parquet(tmp))
    atomic_write_bytes(tmp_path / "b.bin", b"data")
    umask = os.umask(0)
    os.umask(umask)
    assert sorted(os.listdir(tmp_path)) == ["a.parquet", "b.bin"]
    assert pd.read_parquet(tmp_path / "a.parquet")["x"].tolist() == [1]
    assert (tmp_path / "b.bin").read_bytes() == b"data"
    for name in ("a.parquet", "b.bin"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask
