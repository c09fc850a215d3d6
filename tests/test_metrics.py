"""Per-genre thresholds (each genre's best F1 threshold averaged with a global one; rare genres fall back) and the
summary numbers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from moviegenre.evaluation.metrics import best_global_threshold, multilabel_metrics, tune_thresholds


def _rows():
    rng = np.random.default_rng(0)
    labels = np.zeros((200, 2), dtype=int)
    labels[:80, 0] = 1  # a common genre
    labels[:5, 1] = 1  # a rare one: 5 positives, under the 15 a genre needs for a threshold of its own
    probabilities = np.clip(labels * 0.5 + rng.uniform(0, 0.5, labels.shape), 0, 1)
    return labels, probabilities


def test_a_common_genre_averages_its_best_threshold_with_the_global_one_and_a_rare_genre_takes_the_global():
    labels, probabilities = _rows()
    global_threshold, _ = best_global_threshold(labels.astype(bool), probabilities)
    thresholds = tune_thresholds(labels, probabilities)
    own = tune_thresholds(labels[:, :1], probabilities[:, :1], global_threshold=0.0)[0] * 2  # its best alone
    assert thresholds[1] == np.float32(global_threshold)
    assert np.isclose(thresholds[0], 0.5 * (own + global_threshold))


def test_a_given_global_threshold_and_fallback_replace_the_rows_own():
    labels, probabilities = _rows()
    thresholds = tune_thresholds(labels, probabilities, global_threshold=0.3, fallback=np.array([0.9, 0.7]))
    own = tune_thresholds(labels[:, :1], probabilities[:, :1], global_threshold=0.0)[0] * 2
    assert np.isclose(thresholds[0], 0.5 * (own + 0.3))  # the common genre: its best, averaged with the given one
    assert np.isclose(thresholds[1], 0.7)  # the rare genre keeps its fallback


def test_a_report_on_a_run_whose_training_log_cannot_be_read_says_so_and_keeps_its_scores(tmp_path):
    """The learning curves are the one part of a report that reads the run's log: an unreadable log (here not UTF-8;
    a pipe would make the reading wait) leaves them out, with why, rather than failing the evaluation."""
    import os

    from moviegenre.evaluation.metrics import multilabel_metrics
    from moviegenre.evaluation.report import write_report

    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 1]])
    probabilities = np.array([[0.9, 0.2], [0.1, 0.8], [0.7, 0.6], [0.4, 0.3]])
    metrics = multilabel_metrics(labels, probabilities, np.array([0.5, 0.5]), ["Drama", "Comedy"])
    for damage in ("not-utf8", "pipe"):
        log = tmp_path / damage / "logs" / "metrics.csv"
        log.parent.mkdir(parents=True)
        log.write_bytes(b"\xff\xfe\x00garbage") if damage == "not-utf8" else os.mkfifo(log)
        out = write_report(tmp_path / damage / "report", metrics, labels, probabilities, ["Drama", "Comedy"],
                           title="t", run_dir=tmp_path / damage)
        report = (out / "report.md").read_text()
        assert f"Learning curves: not drawn ({log}: unreadable training log (" in report
        assert "| micro_f1 |" in report and (out / "metrics.json").exists()


@pytest.mark.parametrize("seed", range(5))
def test_the_f1_averages_are_scikit_learns(seed: int):
    rng = np.random.default_rng(seed)
    labels = rng.random((40, 5)) < 0.3
    labels[0] = False  # a movie without genres
    probabilities = rng.random((40, 5))
    probabilities[:2] = 0  # and two movies given none
    thresholds = rng.uniform(0.2, 0.8, 5)
    metrics = multilabel_metrics(labels, probabilities, thresholds, list("abcde"))
    for average in ("micro", "weighted", "samples"):
        expected = f1_score(labels, probabilities >= thresholds, average=average, zero_division=0)
        assert metrics[f"{average}_f1"] == pytest.approx(expected)


def test_a_model_of_one_genre_is_scored():  # scikit-learn refuses its 'samples' average on one column
    labels, probabilities = np.array([[1], [0], [1], [0]]), np.array([[0.9], [0.2], [0.3], [0.7]])
    metrics = multilabel_metrics(labels, probabilities, np.array([0.5]), ["Drama"])
    assert metrics["micro_f1"] == pytest.approx(0.5)  # one true positive, one false positive, one miss
    assert metrics["samples_f1"] == pytest.approx(0.25)  # the first movie 1, the others 0


def test_the_learning_curves_of_a_run_of_several_networks_show_each_one(tmp_path, monkeypatch):
    """A fusion run keeps a log per network (members, single-input networks) in subfolders; the plot showed the top
    one's alone, unlabelled."""
    from moviegenre.evaluation import report as report_module
    from moviegenre.evaluation.report import write_report

    curve = "epoch,step,train_loss,val_loss,val_micro_f1\n0,1,,0.7,0.3\n0,1,0.8,,\n1,2,,0.6,0.4\n1,2,0.7,,\n"
    for folder in ("", "member1", "poster0", "description0"):
        (tmp_path / "run" / folder / "logs").mkdir(parents=True, exist_ok=True)
        (tmp_path / "run" / folder / "logs" / "metrics.csv").write_text(curve)
    drawn = {}

    def keep(fig, path):
        drawn[path.name] = [[text.get_text() for text in ax.get_legend().get_texts()] if ax.get_legend() else []
                            for ax in fig.axes] + [[ax.get_title() for ax in fig.axes]]
        return path

    monkeypatch.setattr(report_module, "save_figure", keep)
    labels, probabilities = np.array([[1, 0], [0, 1]]), np.array([[0.9, 0.2], [0.1, 0.8]])
    metrics = multilabel_metrics(labels, probabilities, np.array([0.5, 0.5]), ["Drama", "Comedy"])
    write_report(tmp_path / "report", metrics, labels, probabilities, ["Drama", "Comedy"], title="t",
                 run_dir=tmp_path / "run")
    loss, f1, titles = drawn["learning_curves.png"]
    assert loss == ["train_loss", "val_loss"] and f1 == ["member0", "description0", "member1", "poster0"]
    assert titles == ["loss (member0's network)", "validation micro-F1, each network"]
