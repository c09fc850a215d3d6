"""What commands print: not wrapped at a guessed 80 columns when piped (--json stays the machine format), help
without value types for flags, a request log from serve."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from conftest import run_moviegenre
from moviegenre.serving import predictor as predictor_module
from moviegenre.serving.transport import MAX_CONNECTIONS, DeadlineH11

GENRES = ["Science Fiction", "Documentary", "Adventure", "Animation", "Thriller", "Romance", "Mystery", "Fantasy"]


class LongPrediction:
    """A stand-in model folder whose prediction has a header far wider than 80 columns."""

    version = "0123456789ab"

    def __init__(self, run_dir=None) -> None:
        pass

    def predict(self, poster=None, description=None, title=None) -> dict:
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
    assert json.loads(out) == {**LongPrediction().predict(), "model_version": LongPrediction.version}


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["data", "inspect", "--help"], ["serve", "--help"],
                                  ["predict", "--help"], ["predict-table", "--help"]])
def test_help_gives_flags_no_type(monkeypatch, capsys, args):
    code, out, _ = run_moviegenre(monkeypatch, capsys, *args)
    assert code == 0 and "--help" in out
    assert "<bool>" not in out


@pytest.mark.parametrize(("args", "logged"), [([], True), (["--no-access-log"], False)])
def test_serve_logs_each_request_unless_told_not_to(monkeypatch, capsys, args, logged):
    import torch
    import uvicorn

    from moviegenre.serving import app as app_module

    # What 'serve' reads of the app it starts.
    service = SimpleNamespace(state=SimpleNamespace(service=SimpleNamespace(predictor=SimpleNamespace(
        model_name="default"))))
    calls = []
    monkeypatch.setattr(app_module, "create_app", lambda run_dir, workers: service)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    monkeypatch.setattr(torch, "set_num_threads", lambda threads: None)
    code, out, _ = run_moviegenre(monkeypatch, capsys, "serve", "--port", "8123", *args)
    assert code == 0 and "serving default on http://127.0.0.1:8123/" in out
    options = calls[0]
    assert options["access_log"] is logged
    assert options["log_config"]["loggers"]["uvicorn.access"]["level"] == "INFO"  # a line per request
    assert options["log_config"]["loggers"]["uvicorn.error"]["level"] == "WARNING"  # no start-up chatter
    assert options["http"] is DeadlineH11 and options["limit_concurrency"] == MAX_CONNECTIONS  # slow clients bounded
