"""The test run keeps its caches to itself: the user's embedding cache is never written, in the test process
or in the processes it starts."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path

from conftest import CACHE_VARIABLES, USER_CACHE
from moviegenre.features.cache import FeatureCache, cache_root, content_key


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
