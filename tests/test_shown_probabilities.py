"""A probability shown to a person or written to a file never reads as reaching its threshold where the genre is not
predicted: rounded, 0.49996 against a threshold of 0.5 would show as 0.5000 against 0.5000."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from moviegenre.cli import app
from moviegenre.data.readers import read_table
from moviegenre.serving.predictor import Predictor, displayed

DESCRIPTION = "A ghost haunts the night; blood and a scream in the dark."


def test_a_probability_below_its_threshold_never_rounds_onto_it():
    probabilities = np.array([0.49996, 0.5, 0.70004, np.nan, 0.00001, 0.31234])
    thresholds = np.array([0.5, 0.5, 0.7, 0.5, 0.00002, 0.3])
    assert np.array_equal(displayed(probabilities, thresholds), [0.4999, 0.5, 0.7, np.nan, 0.0, 0.3123],
                          equal_nan=True)
    assert displayed(0.4996, 0.5, 2) == 0.49 and displayed(0.5, 0.5, 2) == 0.5 and displayed(0.503, 0.5049, 2) == 0.49


@pytest.mark.parametrize("decimals", [2, 3, 4])
def test_rounded_probabilities_reach_their_rounded_thresholds_exactly_where_the_genre_is_predicted(decimals: int):
    rng = np.random.default_rng(0)
    thresholds = rng.uniform(0.05, 0.95, 5000).round(4)
    probabilities = np.clip(thresholds + rng.normal(0, 10.0 ** -decimals, 5000), 0, 1)
    shown = displayed(probabilities, thresholds, decimals)
    assert np.array_equal(shown >= thresholds.round(decimals), probabilities >= thresholds)
    assert np.abs(shown - probabilities).max() <= 1.5 * 10.0 ** -decimals


@pytest.fixture
def near_thresholds(session_quick_run: Path, monkeypatch) -> Predictor:
    """A predictor whose every probability lies just under its genre's threshold, the first genre's exactly on it."""
    predictor = Predictor(session_quick_run)
    edge = predictor.thresholds - 1e-6
    edge[0] = predictor.thresholds[0]
    monkeypatch.setattr(type(predictor.model), "predict_proba",
                        lambda self, table: np.tile(edge, (len(table), 1)).astype(np.float32))
    return predictor


def test_predict_and_predict_table_show_a_genre_at_its_threshold_only_where_it_is_predicted(
        near_thresholds: Predictor, session_tiny_table_csv: Path):
    first = near_thresholds.genres[0]
    result = near_thresholds.predict(description=DESCRIPTION)
    assert result["genres"] == [first]
    assert [g for g, p in result["probabilities"].items() if p >= result["thresholds"][g]] == [first]
    frame = next(near_thresholds.predict_table(read_table(session_tiny_table_csv)))
    read = frame[f"p_{first}"].notna()  # the rows without a description: no genres, no probabilities
    assert read.sum() >= 10 and set(frame["predicted_genres"][read]) == {first}
    thresholds = np.array([result["thresholds"][g] for g in near_thresholds.genres], dtype=np.float32)
    reached = frame.loc[read, [f"p_{g}" for g in near_thresholds.genres]].to_numpy() >= thresholds
    assert reached[:, 0].all() and not reached[:, 1:].any()


def test_predict_marks_and_shows_only_the_predicted_genre_at_its_threshold(near_thresholds: Predictor,
                                                                           session_quick_run: Path, monkeypatch):
    monkeypatch.setattr("moviegenre.serving.predictor.Predictor", lambda run_dir: near_thresholds)
    output = CliRunner().invoke(app, ["predict", str(session_quick_run), "--description", DESCRIPTION]).output
    rows = re.findall(r"^ ([* ]) (\S+) +([\d.]+) +#* +\(threshold ([\d.]+)\)$", output, re.MULTILINE)
    assert len(rows) == min(8, len(near_thresholds.genres))
    assert [genre for mark, genre, _, _ in rows if mark == "*"] == [near_thresholds.genres[0]]
    assert all((float(p) >= float(t)) == (mark == "*") for mark, _, p, t in rows)
