"""A normal training run shows one progress bar per step the user waits for, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import make_tiny_table
from moviegenre.features.cache import cache_root

NOISE = ("GPU available", "TPU available", "litlogger", "Batches:", "Epoch 0", "`Trainer.fit` stopped")


def test_training_shows_one_bar_per_step_and_no_library_noise(tmp_path):
    table = make_tiny_table(tmp_path / "data")
    moviegenre = Path(sys.executable).with_name("moviegenre")
    # A cache of its own: every embedding step runs (and shows its bar) whatever other tests embedded. The unpacked
    # weights and the encoders' exports are shared with the other tests: this test does not watch them being made.
    cache = tmp_path / "cache"
    for shared in ("models", "onnx"):
        (cache_root() / shared).mkdir(parents=True, exist_ok=True)
        (cache / shared).parent.mkdir(exist_ok=True)
        (cache / shared).symlink_to(cache_root() / shared)
    env = {**os.environ, "MOVIEGENRE_CACHE": str(cache)}
    done = subprocess.run([str(moviegenre), "train", str(table), "--model", "fusion-gmu", "--out", str(tmp_path / "run"),
                           "--max-epochs", "2", "--min-genre-count", "3", "--param", "ensemble=2"],
                          capture_output=True, text=True, timeout=600, check=False, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("trained fusion-gmu on ") and done.stdout.count("\n") == 1
    # fusion-gmu's refit learns from them as well; so few validation movies cross-fit it
    assert "validation movies too; thresholds cross-fitted)" in done.stdout
    shown = done.stderr
    for step in ("embedding posters (efficientnet-lite0+lite1+lite2+flip)", "embedding descriptions (mpnet-l11)", "reading poster text",
                 "member 1/2", "member 2/2", "poster member 1/2", "poster member 2/2", "description member 1/2",
                 "description member 2/2", "refit member 1/2", "refit description member 2/2"):
        assert step in shown
    assert "epoch 2/2" in shown and "val F1=" in shown
    assert not [noise for noise in NOISE if noise in shown], shown[-3000:]
    # Every line the user keeps on screen is one of those bars (tqdm redraws a bar in place with \r).
    kept = [line.split("\r")[-1] or line.split("\r")[-2] for line in shown.splitlines() if line.strip()]
    bars = ("embedding ", "reading poster text", "member ", "poster member ", "description member ", "refit ")
    assert all(line.startswith(bars) for line in kept), kept


def test_the_trained_line_counts_one_movie_and_one_genre_in_the_singular():
    # "with its 1 validation movies too", "(1 genres)": a tiny table's run said so.
    from types import SimpleNamespace

    from moviegenre.cli.models import trained_line

    run = {"rows": {"train": 1, "validation": 1}, "train_rows_read": 1, "train_seconds": 2.04, "resumed": False}
    model = SimpleNamespace(name="fusion-gmu", inputs=("poster", "description"), genres_=["Drama"], refit_rows_=1,
                            cross_fitted_=True)
    assert trained_line(model, run) == ("trained fusion-gmu on 1 movie (then with its 1 validation movie too; "
                                        "thresholds cross-fitted) (1 genre) in 2.0 s")
    model = SimpleNamespace(name="tfidf-logreg", inputs=("description",), genres_=["Drama", "Comedy"])
    run = {**run, "rows": {"train": 1_204, "validation": 0}, "train_rows_read": 1_000, "resumed": True}
    assert trained_line(model, run) == ("trained tfidf-logreg on 1,204 movies, 1,000 with a description it reads "
                                        "(2 genres) in 2.0 s since resuming")
