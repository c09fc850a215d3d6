"""Shared fixtures. Tests on the real data in ../shared/data skip when it is absent, and fail instead
when MOVIEGENRE_REQUIRE_SHARED=1 (CI sets it): there no test may skip, for any reason, so none can skip silently.
Every cache the code under test (or a test library) writes lives in a temporary folder for the whole run
(``private_caches``)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from moviegenre.cli import run
from moviegenre.features.cache import cache_root

SHARED_DATA = Path(os.environ.get("MOVIEGENRE_SHARED_DATA",
                                  Path(__file__).resolve().parents[1].parent / "shared" / "data"))

# Where the caches of the user running the tests are: the tests must leave them as they found them.
USER_CACHE = cache_root()
# Caches that default to folders under $HOME: ours, those of libraries we call (the Hugging Face hub, torch
# hub, matplotlib's font list, XDG), and HOME itself for those that write there directly (ONNX Runtime's
# device id, Ray's auth token, Chromium's crash reports). Hypothesis (under schemathesis) writes into the folder the
# tests run from, the repository, unless told otherwise.
CACHE_VARIABLES = {"MOVIEGENRE_CACHE": "moviegenre", "HF_HOME": "huggingface", "TORCH_HOME": "torch",
                   "MPLCONFIGDIR": "matplotlib", "XDG_CACHE_HOME": "xdg-cache", "XDG_CONFIG_HOME": "xdg-config",
                   "HOME": "home", "HYPOTHESIS_STORAGE_DIRECTORY": "hypothesis"}


@pytest.fixture(scope="session", autouse=True)
def private_caches(tmp_path_factory) -> Path:
    """Point every cache at a temporary folder for the whole run.

    Set in ``os.environ``, so that the processes tests start (the CLI, DDP ranks, Ray workers) inherit it.
    """
    root = tmp_path_factory.mktemp("caches")
    with pytest.MonkeyPatch.context() as patch:
        for variable, folder in CACHE_VARIABLES.items():
            (root / folder).mkdir()
            patch.setenv(variable, str(root / folder))
        try:  # the variable is read once, on first use, which a module imported while collecting may already have made
            from hypothesis.configuration import set_hypothesis_home_dir
        except ImportError:
            pass
        else:
            set_hypothesis_home_dir(root / "hypothesis")
        yield root


def pytest_collection_modifyitems(items) -> None:
    """The tests on the real data carry the ``shared`` marker: ``-m "not shared"`` leaves them out."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Under MOVIEGENRE_REQUIRE_SHARED=1 a skip is a failure: CI has the data, the browser and every extra, so a test
    that skips there has lost what it checks without a word."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get("MOVIEGENRE_REQUIRE_SHARED") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome, report.longrepr = "failed", f"skipped where MOVIEGENRE_REQUIRE_SHARED=1: {reason}"
    return report


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (``../shared/data``)."""
    if not (SHARED_DATA / "movies.csv").exists():
        reason = f"real data not found at {SHARED_DATA} (set MOVIEGENRE_SHARED_DATA or put shared/ beside the repo)"
        if os.environ.get("MOVIEGENRE_REQUIRE_SHARED") == "1":
            pytest.fail(reason + " but MOVIEGENRE_REQUIRE_SHARED=1")
        pytest.skip(reason)
    return SHARED_DATA


def run_moviegenre(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run the console-script entry point in process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["moviegenre", *map(str, args)])
    try:
        run()
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def draw_poster(path: Path, seed: int = 0, size: tuple[int, int] = (64, 96)) -> Path:
    """A small synthetic poster: coloured blocks, different per seed."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    pixels[:] = rng.integers(0, 255, 3)
    top = rng.integers(0, size[1] // 2)
    pixels[top: top + size[1] // 3, :, :] = rng.integers(0, 255, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance")
WORDS = {"Action": "explosion chase fight gun", "Comedy": "funny laugh joke silly", "Drama": "family loss life tears",
         "Horror": "ghost blood night scream", "Romance": "love kiss heart wedding"}


@pytest.fixture
def tiny_table_csv(tmp_path: Path) -> Path:
    """A synthetic labelled table in the shared CSV format: 60 movies, some with posters, some with text."""
    return make_tiny_table(tmp_path)


@pytest.fixture(scope="session")
def session_tiny_table_csv(tmp_path_factory) -> Path:
    """The same table, built once per session (read-only use)."""
    return make_tiny_table(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def session_quick_run(session_tiny_table_csv, tmp_path_factory) -> Path:
    """A run of the quickest model (no network, no encoder) on that table, trained once per session: copy it before
    changing it."""
    from moviegenre.training.pipeline import train

    out = tmp_path_factory.mktemp("quick") / "run"
    train(session_tiny_table_csv, "tfidf-logreg", out, min_genre_count=3, progress=False)
    return out


@pytest.fixture(scope="session")
def session_tiny_labelled(session_tiny_table_csv):
    """The session's tiny table read, its genre matrix and its genres (those of 3 movies or more): what ``fit``
    takes. Shared by every test that asks: fit on it, never change it."""
    from moviegenre.data.genres import GenreEncoder
    from moviegenre.data.readers import read_table

    table = read_table(session_tiny_table_csv)
    encoder = GenreEncoder(min_count=3).fit(table.genres)
    return table, encoder.transform(table.genres), encoder.classes_


@pytest.fixture(scope="session")
def session_fusion_run(session_tiny_table_csv, tmp_path_factory) -> Path:
    """A run of fusion-gmu (one member, 2 epochs, with its checkpoints) on the tiny table, trained once per session:
    copy it before changing it."""
    from moviegenre.training.pipeline import train

    out = tmp_path_factory.mktemp("fusion") / "run"
    train(session_tiny_table_csv, "fusion-gmu", out, min_genre_count=3, max_epochs=2, progress=False,
          params={"ensemble": 1})
    return out


@pytest.fixture
def quick_run_copy(session_quick_run, tmp_path) -> Path:
    """This test's own copy of the quick run, at ``tmp_path / "run"``: change it at will."""
    return shutil.copytree(session_quick_run, tmp_path / "run")


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> None:
    """A cache of this test's own, empty at first (``pytestmark = pytest.mark.usefixtures("own_cache")``)."""
    monkeypatch.setenv("MOVIEGENRE_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def no_model_load(monkeypatch) -> None:
    """The model must not load: every check the test makes comes before it."""
    from moviegenre.serving import predictor

    def load_model(run_dir):
        raise AssertionError(f"the model of {run_dir} was loaded")

    monkeypatch.setattr(predictor, "load_model", load_model)


def make_tiny_table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    lines = ["imdb_id,title,year,genres,description,poster"]
    for i in range(60):
        genres = list(rng.choice(GENRES, size=rng.integers(1, 3), replace=False))
        text = " ".join(WORDS[g] for g in genres) if i % 3 != 0 else ""
        poster = f"posters/tt{i:07d}.png" if i % 3 != 1 else ""
        if poster:
            draw_poster(tmp_path / poster, seed=GENRES.index(genres[0]) * 100 + i)
        lines.append(f"tt{i:07d},Movie {i},{2000 + i % 10},{'|'.join(genres)},{text},{poster}")
    path = tmp_path / "movies.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
