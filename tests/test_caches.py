"""The test run keeps its caches to itself: the user's embedding cache is never written, in the test process
or in the processes it starts. The cache never hands on a stale, damaged or non-finite value, and a cache file it
cannot use is one line naming it."""

from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from conftest import CACHE_VARIABLES, USER_CACHE
from moviegenre.errors import DataError
from moviegenre.features import cache
from moviegenre.features.cache import CACHE_VERSION, FeatureCache, cache_root, cached_values, content_key, embed_texts
from moviegenre.features.fast import _export_folder
from moviegenre.features.poster_text import READER


def holds(database: Path, key: str) -> bool:
    """Whether an embedding cache file holds ``key``, read without writing to it."""
    if not database.exists():
        return False
    with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as db:
        return db.execute("SELECT 1 FROM vectors WHERE key = ?", (key,)).fetchone() is not None


def test_every_cache_points_into_the_temporary_folder(private_caches):
    for variable, folder in CACHE_VARIABLES.items():
        assert os.environ[variable] == str(private_caches / folder)
    assert cache_root() == private_caches / "moviegenre" != USER_CACHE


def test_predictions_in_process_and_in_a_subprocess_leave_the_users_cache_alone(private_caches):
    from moviegenre.serving.predictor import Predictor

    # Descriptions no cache has seen, so that their vectors are written now and only now.
    here, there = (f"A ghost haunts the night ({uuid.uuid4().hex})" for _ in range(2))
    Predictor().predict(description=here)
    moviegenre = Path(sys.executable).with_name("moviegenre")
    done = subprocess.run([str(moviegenre), "predict", "--description", there, "--json"], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    ours = FeatureCache(Predictor().model.text_encoder).path  # the packaged model's description encoder
    users = USER_CACHE / "features" / ours.name
    for text in (here, there):
        assert holds(ours, content_key(text))
        assert not holds(users, content_key(text))


class CountingEncoder:
    """A stand-in text encoder: a text's vector is its length, repeated; it keeps the texts it was asked to encode."""

    def __init__(self, name: str = "counting", dim: int = 4) -> None:
        self.name, self.dim, self.encoded = name, dim, []

    def encode_texts(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.encoded += texts
        return np.array([[len(text)] * self.dim for text in texts], dtype=np.float32)


@pytest.fixture
def cache_folder(tmp_path, monkeypatch) -> Path:
    """A cache of this test's own, where a stand-in encoder is used as it is (not exported to ONNX)."""
    from moviegenre.features import fast

    monkeypatch.setenv("MOVIEGENRE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fast, "fast_encoder", lambda encoder: encoder)
    return tmp_path / "cache" / "features"


def cache_file(name: str) -> Path:
    return cache_root() / "features" / f"{name}.v{CACHE_VERSION}.sqlite"


def one_line_about(error: pytest.ExceptionInfo, path: Path) -> str:
    message = str(error.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    return message


def test_a_model_folder_replaced_under_the_same_name_gets_vectors_of_its_own(cache_folder, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"old weights")
    encoder = CountingEncoder(f"st:{folder}")
    export = _export_folder(encoder.name)
    embed_texts(["A ghost haunts the night."], encoder, progress=False)
    embed_texts(["A ghost haunts the night."], encoder, progress=False)
    assert len(encoder.encoded) == 1  # the same folder: its cached vector
    (folder / "model.safetensors").write_bytes(b"new weights, of another size")
    embed_texts(["A ghost haunts the night."], encoder, progress=False)
    assert len(encoder.encoded) == 2 and _export_folder(encoder.name) != export
    assert FeatureCache("minilm", 384).path.name == f"minilm.v{CACHE_VERSION}.sqlite"  # packaged: named as before


def test_caches_opened_at_once_while_another_process_makes_the_file_wait_for_it(cache_folder):
    """Setting WAL mode fails at once, without SQLite's busy timeout, while another connection (here: as another
    process would) writes the fresh file."""
    cache_folder.mkdir(parents=True)
    other = sqlite3.connect(cache_file("fresh"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    errors = []

    def open_and_fill(i: int) -> None:
        try:
            FeatureCache("fresh", 4).put_many({f"k{i}": np.full(4, i)})
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(repr(error))

    threads = [threading.Thread(target=open_and_fill, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    other.execute("ROLLBACK")
    other.close()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(FeatureCache("fresh", 4).get_many([f"k{i}" for i in range(4)])) == ["k0", "k1", "k2", "k3"]


def test_a_cache_file_held_by_another_process_too_long_is_one_line_saying_so(cache_folder, monkeypatch):
    # Not "unusable ... delete it": the file is sound, another process is writing it.
    monkeypatch.setattr(cache, "BUSY_SECONDS", 0.2)
    FeatureCache("held", 4).put_many({"k0": np.zeros(4)})
    other = sqlite3.connect(cache_file("held"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DataError, match=r"held\.v1\.sqlite: another process has held the cache file for over "
                                            r"0\.2 s \(let it finish, or set MOVIEGENRE_CACHE to another folder\)$"):
            FeatureCache("held", 4).put_many({"k1": np.ones(4)})
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert sorted(FeatureCache("held", 4).get_many(["k0", "k1"])) == ["k0"]


def truncated(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        db.executemany("INSERT INTO vectors VALUES (?, ?)", ((str(i), bytes(256)) for i in range(200)))
    os.truncate(path, path.stat().st_size // 2)


@pytest.mark.parametrize(("damage", "hint"), [(lambda path: path.write_bytes(b"not a database " * 400), "(delete it"),
                                              (truncated, "(delete it"), (Path.mkdir, "(move it away)"),
                                              (os.mkfifo, "(move it away)")], ids=["garbage", "truncated", "folder", "fifo"])
def test_a_cache_file_sqlite_cannot_use_is_one_line_naming_it(cache_folder, damage, hint):
    cache_folder.mkdir(parents=True)
    damage(cache_file("counting"))
    with pytest.raises(DataError) as error:
        embed_texts([str(i) for i in range(200)], CountingEncoder(), progress=False)
    assert hint in one_line_about(error, cache_file("counting"))


@pytest.mark.parametrize("in_the_way", ["cache/features", "cache"])
def test_a_cache_folder_that_cannot_be_made_is_one_line_naming_it(cache_folder, tmp_path, in_the_way):
    (tmp_path / in_the_way).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / in_the_way).write_text("a file, not a folder")
    with pytest.raises(DataError) as error:
        embed_texts(["A ghost haunts the night."], CountingEncoder(), progress=False)
    assert "MOVIEGENRE_CACHE" in one_line_about(error, cache_folder)


def test_a_read_only_cache_is_read_and_left_as_it_was(cache_folder, monkeypatch):
    """A team's cache on a read-only mount: its vectors are read, the rest computed and not stored."""
    encoder = CountingEncoder()
    embed_texts(["A ghost haunts the night."], encoder, progress=False)
    gc.collect()  # closes the connection: its write-ahead log is merged into the file
    writable = os.access  # file modes do not stop root: the check is made to see what other users see
    monkeypatch.setattr(os, "access", lambda path, mode: writable(path, mode) and not (
        mode & os.W_OK and Path(path).is_relative_to(cache_folder)))
    for path in [*cache_folder.iterdir(), cache_folder]:
        path.chmod(0o555)
    try:
        vectors = embed_texts(["A ghost haunts the night.", "Two friends."], encoder, progress=False)
        uncached = CountingEncoder("uncached")  # no file of its own in the cache: nothing to read, nowhere to write
        np.testing.assert_array_equal(embed_texts(["Two friends."], uncached, progress=False), [[12] * 4])
    finally:
        cache_folder.chmod(0o755)
    assert encoder.encoded == ["A ghost haunts the night.", "Two friends."]
    np.testing.assert_array_equal(vectors, [[25] * 4, [12] * 4])
    assert holds(cache_file("counting"), content_key("A ghost haunts the night."))
    assert not holds(cache_file("counting"), content_key("Two friends."))
    assert not cache_file("uncached").exists()


@pytest.mark.parametrize("stored", [b"\x00\x01\x02", "text", np.zeros(3, np.float32).tobytes(),
                                    np.zeros(4, np.float64).tobytes(), np.full(4, np.nan, np.float32).tobytes(),
                                    np.full(4, np.inf, np.float32).tobytes(), np.full(4, 1e30, np.float32).tobytes()],
                         ids=["odd-length", "text", "too-short", "float64", "nan", "inf", "absurd"])
def test_a_vector_that_does_not_read_back_as_stored_is_computed_again_and_replaced(cache_folder, stored):
    encoder = CountingEncoder()
    embed_texts(["A ghost haunts the night."], encoder, progress=False)
    with closing(sqlite3.connect(cache_file("counting"))) as db, db:
        db.execute("UPDATE vectors SET vector = ?", (stored,))
    for _ in range(2):  # computed again the first time, read back the second
        np.testing.assert_array_equal(embed_texts(["A ghost haunts the night."], encoder, progress=False), [[25] * 4])
    assert len(encoder.encoded) == 2


@pytest.mark.parametrize("stored", [b"\xff\xfe\xfd", "TITLE"], ids=["not-utf8", "text"])
def test_a_poster_text_that_does_not_read_back_as_stored_is_read_again(cache_folder, stored):
    FeatureCache(READER).put_many({"poster": "TITLE"})
    with closing(sqlite3.connect(cache_file(READER))) as db, db:
        db.execute("UPDATE vectors SET vector = ?", (stored,))
    found = cached_values(["poster"], FeatureCache(READER), lambda keys: ["READ AGAIN"] * len(keys), desc="reading",
                          unit="poster", progress=False)
    assert found == {"poster": "READ AGAIN"} and FeatureCache(READER).get_many(["poster"]) == found
