"""Multi-label metrics as the field reports them, and per-genre decision thresholds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, hamming_loss, precision_score, recall_score

THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)
# Below this many validation positives a genre's own best threshold is mostly noise: use the global one.
MIN_POSITIVES_FOR_OWN_THRESHOLD = 15


def micro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    tp = float((labels * predicted).sum())
    return 2 * tp / max(float(labels.sum() + predicted.sum()), 1.0)


def samples_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The mean of each movie's F1 (scikit-learn's 'samples' average, which refuses a model of one genre); a movie
    with neither a true nor a predicted genre scores 0, as there with ``zero_division=0``."""
    if not len(labels):
        return 0.0
    size = labels.sum(1) + predicted.sum(1)
    return float(np.mean(2 * (labels * predicted).sum(1) / np.maximum(size, 1)))


def best_global_threshold(labels: np.ndarray, probabilities: np.ndarray) -> tuple[float, float]:
    """The single threshold with the best micro-F1, and that F1."""
    scores = [micro_f1(labels, probabilities >= t) for t in THRESHOLD_GRID]
    best = int(np.argmax(scores))
    return float(THRESHOLD_GRID[best]), float(scores[best])


def tune_thresholds(labels: np.ndarray, probabilities: np.ndarray, global_threshold: float | None = None,
                    fallback: np.ndarray | None = None) -> np.ndarray:
    """Per-genre thresholds maximising each genre's F1 on validation data.

    Genres with fewer than ``MIN_POSITIVES_FOR_OWN_THRESHOLD`` validation positives fall back to the best global
    (micro-F1) threshold, and every genre's own choice is averaged with it: the tuned values then carry over to
    movies not seen. ``global_threshold`` replaces that global threshold, ``fallback`` (one per genre) the
    thresholds of the genres with few positives: for a subset of rows whose own global one would rest on too few.
    """
    labels = np.asarray(labels, dtype=bool)
    if global_threshold is None:
        global_threshold, _ = best_global_threshold(labels, probabilities)
    thresholds = np.full(labels.shape[1], global_threshold, dtype=np.float32)
    for genre in range(labels.shape[1]):
        positives = labels[:, genre]
        if positives.sum() < MIN_POSITIVES_FOR_OWN_THRESHOLD:
            if fallback is not None:
                thresholds[genre] = fallback[genre]
            continue
        scores = [f1_score(positives, probabilities[:, genre] >= t, zero_division=0) for t in THRESHOLD_GRID]
        thresholds[genre] = 0.5 * (THRESHOLD_GRID[int(np.argmax(scores))] + global_threshold)
    return thresholds


def multilabel_metrics(labels: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray,
                       genres: Sequence[str]) -> dict:
    """Every summary number plus a per-genre table. Keys are part of the CLI's JSON contract."""
    labels = np.asarray(labels, dtype=int)
    predicted = (probabilities >= np.asarray(thresholds)[None, :]).astype(int)
    present = labels.sum(0) > 0
    ap = np.array([average_precision_score(labels[:, g], probabilities[:, g]) if present[g] else np.nan
                   for g in range(labels.shape[1])])
    kw = {"zero_division": 0}
    per_genre = {
        genre: {"f1": float(f1_score(labels[:, g], predicted[:, g], **kw)),
                "precision": float(precision_score(labels[:, g], predicted[:, g], **kw)),
                "recall": float(recall_score(labels[:, g], predicted[:, g], **kw)),
                "ap": None if np.isnan(ap[g]) else float(ap[g]),
                "support": int(labels[:, g].sum()), "predicted": int(predicted[:, g].sum()),
                "true_positives": int((labels[:, g] & predicted[:, g]).sum()),
                "threshold": float(thresholds[g])}
        for g, genre in enumerate(genres)
    }
    return {
        "n": len(labels),
        "micro_f1": float(f1_score(labels, predicted, average="micro", **kw)),
        # Macro over the genres that occur in the scored rows: an absent genre has no defined F1.
        "macro_f1": float(f1_score(labels[:, present], predicted[:, present], average="macro", **kw))
        if present.any() else 0.0,
        "n_genres_present": int(present.sum()),
        "weighted_f1": float(f1_score(labels, predicted, average="weighted", **kw)),
        "samples_f1": samples_f1(labels, predicted),
        "micro_precision": float(precision_score(labels, predicted, average="micro", **kw)),
        "micro_recall": float(recall_score(labels, predicted, average="micro", **kw)),
        "subset_accuracy": float((labels == predicted).all(axis=1).mean()) if len(labels) else 0.0,
        "hamming_loss": float(hamming_loss(labels, predicted)) if len(labels) else 0.0,
        "map_macro": float(np.nanmean(ap)) if present.any() else 0.0,
        "per_genre": per_genre,
    }
