"""Output read through a pipe is not wrapped at a guessed 80 columns; --json stays the machine format."""

from __future__ import annotations

import json

import pytest

from conftest import run_moviegenre
from moviegenre.serving import predictor as predictor_module

GENRES = ["Science Fiction", "Documentary", "Adventure", "Animation", "Thriller", "Romance", "Mystery", "Fantasy"]


class LongPrediction:
    """A stand-in model folder whose prediction has a header far wider than 80 columns."""

    def __init__(self, run_dir=None) -> None:
        pass

    def predict(self, poster=None, description=None) -> dict:
        return {"genres": GENRES, "probabilities": {g: 0.9 - i / 10 for i, g in enumerate(GENRES)},
                "thresholds": dict.fromkeys(GENRES, 0.2), "used": {"poster": False, "description": True},
                "model": "a-model-with-a-rather-long-name"}


@pytest.fixture
def long_prediction(monkeypatch):
    monkeypatch.setattr(predictor_module, "Predictor", LongPrediction)


def test_predict_through_a_pipe_keeps_the_header_on_one_line(monkeypatch, capsys, long_prediction):
    code, out, _ = run_moviegenre(monkeypatch, capsys, "predict", "--description", "A plot.")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 1 + len(GENRES)
    assert lines[0] == ("genres: " + ", ".join(GENRES) + "   (model a-model-with-a-rather-long-name; used description)")
    assert len(lines[0]) > 80


def test_predict_json_is_unchanged(monkeypatch, capsys, long_prediction):
    code, out, _ = run_moviegenre(monkeypatch, capsys, "predict", "--description", "A plot.", "--json")
    assert code == 0
    assert json.loads(out) == LongPrediction().predict()
