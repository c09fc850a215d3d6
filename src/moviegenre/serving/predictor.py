"""The prediction API: one movie (a poster and/or a description) or a whole table.

    >>> from moviegenre import Predictor
    >>> predictor = Predictor()                      # the default model shipped in the package
    >>> predictor.predict(poster="poster.jpg", description="A detective hunts a killer.")["genres"]
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from moviegenre.data.images import load_image
from moviegenre.data.table import MovieTable
from moviegenre.errors import DataError
from moviegenre.models.base import GenreModel, load_model, model_meta, run_model_dir


class Predictor:
    """A fitted model, ready for single and batch predictions.

    The run folder is checked at once; the model (and torch with it) loads on first use, so that bad input is
    reported before that wait.
    """

    def __init__(self, run_dir: str | Path | None = None) -> None:
        self.run_dir = run_model_dir(run_dir)
        self.meta = model_meta(self.run_dir)
        self.genres = list(self.meta["genres"])

    @cached_property
    def model(self) -> GenreModel:
        return load_model(self.run_dir)

    @cached_property
    def thresholds(self) -> np.ndarray:
        return np.asarray(self.model.thresholds_, dtype=np.float32)

    @property
    def model_name(self) -> str:
        return "default" if self.run_dir.name == "default_model" else self.meta["name"]

    def predict(self, poster: str | Path | bytes | None = None, description: str | None = None) -> dict:
        """Genres above their thresholds, with every genre's probability and threshold.

        ``poster`` is a path or the image's bytes; it is decoded (and rejected with a clear error) by the
        project's one safe image loader before the model is loaded, and its bytes go to the model as they are.
        """
        description = (description or "").strip()
        if poster is None and not description:
            raise DataError("input", "nothing to predict from", hint="give a poster, a description, or both")
        if poster is not None:
            load_image(poster)  # a missing file, a non-image or a bomb fails here, naming the file
            poster = poster if isinstance(poster, bytes) else Path(poster).read_bytes()
        used = {"poster": poster is not None and "poster" in self.model.inputs,
                "description": bool(description) and "description" in self.model.inputs}
        if not any(used.values()):
            raise DataError("input", f"model '{self.model.name}' reads only {', '.join(self.model.inputs)}",
                            hint="give that input")
        table = MovieTable.from_records([{"imdb_id": "input", "description": description if used["description"]
                                          else "", "poster": poster if used["poster"] else ""}])
        return self.result(self.model.predict_proba(table)[0], used)

    def result(self, probabilities: np.ndarray, used: dict) -> dict:
        """The prediction for one movie from its genre probabilities and the inputs used."""
        order = np.argsort(-probabilities)
        return {
            "genres": [self.genres[i] for i in order if probabilities[i] >= self.thresholds[i]],
            "probabilities": {self.genres[i]: round(float(probabilities[i]), 4) for i in order},
            "thresholds": {g: round(float(t), 4) for g, t in zip(self.genres, self.thresholds)},
            "used": used,
            "model": self.model_name,
        }

    def predict_table(self, table: MovieTable, batch_size: int = 4096) -> Iterator[pd.DataFrame]:
        """Predictions for every row, in batches: imdb_id, predicted genres (``|``-joined), one column per genre."""
        for start in range(0, len(table), batch_size):
            part = table.subset(np.arange(start, min(start + batch_size, len(table))))
            probabilities = self.model.predict_proba(part)
            predicted = probabilities >= self.thresholds[None, :]
            frame = pd.DataFrame(probabilities.round(4), columns=[f"p_{g}" for g in self.genres])
            frame.insert(0, "predicted_genres", ["|".join(g for g, on in zip(self.genres, row) if on)
                                                 for row in predicted])
            frame.insert(0, "imdb_id", part.ids)
            yield frame
