"""The prediction API: one movie (a poster and/or a description) or a whole table.

    >>> from moviegenre import Predictor
    >>> predictor = Predictor()                      # the default model shipped in the package
    >>> predictor.predict(poster="poster.jpg", description="A detective hunts a killer.")["genres"]
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from moviegenre.data.images import load_poster, poster_source, read_image_file
from moviegenre.data.readers import path_argument
from moviegenre.data.table import MovieTable, clean_description
from moviegenre.errors import DataError, MovieGenreError, utf8_text
from moviegenre.models.base import GenreModel, load_model, model_meta, run_model_dir

if TYPE_CHECKING:
    from PIL import Image

ITEM_FIELDS = ("poster", "description", "title")
ITEM_HINT = "give a (poster, description[, title]) tuple or a dict of those keys"


def displayed(probabilities, thresholds, decimals: int = 4) -> np.ndarray:
    """``probabilities`` rounded to ``decimals`` for people and files, never up to their rounded threshold where they
    are below it: a genre shown as 0.5000 against a threshold of 0.5000 is read as predicted. Rounding is monotonic,
    so a probability at or above its threshold stays there; one below it that rounds onto it shows one step under."""
    probabilities, thresholds = np.asarray(probabilities, dtype=np.float64), np.asarray(thresholds, dtype=np.float64)
    rounded, limit = probabilities.round(decimals), thresholds.round(decimals)
    under = (probabilities < thresholds) & (rounded >= limit)
    return np.where(under, np.maximum(limit - 10.0 ** -decimals, 0.0).round(decimals), rounded)


def require_input(has_poster: bool, has_description: bool) -> None:
    """An error naming the fix when neither input is given (checked before any model loads)."""
    if not has_poster and not has_description:
        raise DataError("input", "nothing to predict from",
                        hint="give a poster, a description, or both (a title is read only beside them); a blank "
                             "description, or a source's placeholder for a missing plot such as 'Add a Plot »', is "
                             "none")


def used_inputs(model, has_poster: bool, has_description: bool) -> dict[str, bool]:
    """Which inputs ``model`` will read; an error naming the fix when it would read none."""
    require_input(has_poster, has_description)
    used = {"poster": has_poster and "poster" in model.inputs,
            "description": has_description and "description" in model.inputs}
    if not any(used.values()):
        raise DataError("input", f"model '{model.name}' reads only {', '.join(model.inputs)}",
                        hint="give that input")
    return used


def item_fields(index: int, item: object) -> tuple:
    """(poster, description, title) of one ``predict_many`` item, or a DataError naming the item: a tuple or list,
    or a dict as the web service's batch items are. A string would unpack into letters, a longer tuple lose its
    extra values unseen."""
    where = f"items[{index}]"
    if isinstance(item, Mapping):
        unknown = [key for key in item if key not in ITEM_FIELDS]
        if unknown:
            raise DataError(where, f"unknown key {unknown[0]!r}", hint=f"use {', '.join(ITEM_FIELDS)}")
        return tuple(item.get(key) for key in ITEM_FIELDS)
    if isinstance(item, (tuple, list)):
        if len(item) not in (2, 3):
            raise DataError(where, f"a {type(item).__name__} of length {len(item)}, not 2 or 3", hint=ITEM_HINT)
        return (*item, None)[:3]
    raise DataError(where, f"type {type(item).__name__} is not an item", hint=ITEM_HINT)


class Predictor:
    """A fitted model, ready for single and batch predictions.

    The run folder is checked at once; the model (and torch with it) loads on first use, so that bad input is
    reported before that wait.
    """

    def __init__(self, run_dir: str | Path | None = None) -> None:
        if run_dir is not None:
            run_dir = path_argument(run_dir, "run_dir")
        self.run_dir = run_model_dir(run_dir)
        self.meta = model_meta(self.run_dir)
        self.genres = list(self.meta["genres"])

    @cached_property
    def model(self) -> GenreModel:
        return load_model(self.run_dir)

    @cached_property
    def thresholds(self) -> np.ndarray:
        return np.asarray(self.model.thresholds_, dtype=np.float32)

    @cached_property
    def version(self) -> str:
        """The model files' fingerprint (12 hex digits): which model answered, as the service and ``--json`` say."""
        digest = hashlib.sha256()
        for name in ("model.json", "model.safetensors"):
            digest.update((self.run_dir / name).read_bytes())
        return digest.hexdigest()[:12]

    @property
    def model_name(self) -> str:
        return "default" if self.run_dir.name == "default_model" else self.meta["name"]

    @property
    def reads_titles(self) -> bool:
        """Whether the model blends in a title word model (an optional input: never required)."""
        return getattr(self.model, "title_words_", None) is not None

    def predict(self, poster: str | Path | bytes | Image.Image | None = None, description: str | None = None,
                title: str | None = None) -> dict:
        """Genres above their thresholds, with every genre's probability and threshold.

        ``poster`` is a path, the image's bytes or a PIL image; it is decoded (and rejected with a clear error) by the
        project's one safe image loader before the model is loaded, and its bytes go to the model as they are.
        ``title`` is optional; a model that reads titles uses it beside the poster and/or description
        (``used["title"]`` says so).
        """
        return self.predict_many([(poster, description, title)])[0]

    def predict_many(self, items: Iterable[Sequence | Mapping], progress: bool = False,
                     return_exceptions: bool = False) -> list[dict | MovieGenreError]:
        """``predict`` for each (poster, description[, title]) item, embedded in one batch (the fast path for
        hundreds). An item may also be a dict of those keys, as the web service's batch items are.

        A poster in several items is read once. Each result equals what ``predict`` returns for that item.
        With ``return_exceptions``, an item that cannot be predicted (a bad poster) gets its error in place of a
        result instead of stopping the others.
        """
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise DataError("items", f"type {type(items).__name__} is not a list of items",
                            hint="give a list of (poster, description[, title]) tuples or dicts")
        records, uses, read = [], [], {}
        for index, item in enumerate(items):
            try:
                poster, description, title = item_fields(index, item)
                poster = poster_source(poster)
                description = clean_description(utf8_text(description, "description"))
                title = utf8_text(title, "title")
                require_input(poster is not None, bool(description))
                poster_bytes = self._poster_bytes(poster, read) if poster is not None else None
                used = used_inputs(self.model, poster is not None, bool(description))
                used["title"] = bool(title) and self.reads_titles
            except MovieGenreError as error:
                if not return_exceptions:
                    raise
                uses.append(error)
                continue
            records.append({"imdb_id": f"input{index}", "poster": poster_bytes if used["poster"] else "",
                            "title": title if used["title"] else "",
                            "description": description if used["description"] else ""})
            uses.append(used)
        rows = iter(self._probabilities(MovieTable.from_records(records), progress) if records else [])
        return [used if isinstance(used, MovieGenreError) else self.result(next(rows), used) for used in uses]

    @staticmethod
    def _poster_bytes(poster: str | Path | bytes, read: dict) -> bytes:
        """The poster's bytes, once checked by the safe loader (a missing file, a non-image or a bomb fails
        here, naming the file); read once per poster."""
        if poster not in read:
            try:
                data = poster if isinstance(poster, bytes) else read_image_file(Path(poster), name=str(poster))
                load_poster(data, name=None if isinstance(poster, bytes) else str(poster))
                read[poster] = data
            except MovieGenreError as error:
                read[poster] = error
        if isinstance(read[poster], MovieGenreError):
            raise read[poster]
        return read[poster]

    def _probabilities(self, table: MovieTable, progress: bool) -> np.ndarray:
        model = self.model
        if progress and hasattr(model, "predict_from_features"):  # predict_proba, with the embedding bars
            texts = model.texts(table, progress=True)
            return model.predict_from_features(model.features(table, progress=True), texts["description"],
                                               texts["title"], texts["poster_text"])
        return model.predict_proba(table)

    def result(self, probabilities: np.ndarray, used: dict) -> dict:
        """The prediction for one movie from its genre probabilities and the inputs used."""
        order = np.argsort(-probabilities)
        rounded = displayed(probabilities, self.thresholds)
        return {
            "genres": [self.genres[i] for i in order if probabilities[i] >= self.thresholds[i]],
            "probabilities": {self.genres[i]: float(rounded[i]) for i in order},
            "thresholds": {g: round(float(t), 4) for g, t in zip(self.genres, self.thresholds)},
            "used": used,
            "model": self.model_name,
        }

    def predict_table(self, table: MovieTable, batch_size: int = 4096) -> Iterator[pd.DataFrame]:
        """Predictions for every row, in batches: imdb_id, predicted genres (``|``-joined), one column per genre.

        A row with no input the model reads (no poster for a poster-only model, no description, or only a source's
        placeholder for one, for a text-only one) gets no genres and NaN probabilities: ``predict`` refuses such a
        movie and ``evaluate`` leaves it out, and the model's guess from nothing would read as a prediction.
        """
        for start in range(0, len(table), batch_size):
            part = table.subset(np.arange(start, min(start + batch_size, len(table))))
            probabilities = self._readable_probabilities(part)
            predicted = probabilities >= self.thresholds[None, :]
            frame = pd.DataFrame(displayed(probabilities, self.thresholds[None, :]).astype(probabilities.dtype),
                                 columns=[f"p_{g}" for g in self.genres])
            frame.insert(0, "predicted_genres", ["|".join(g for g, on in zip(self.genres, row) if on)
                                                 for row in predicted])
            frame.insert(0, "imdb_id", part.ids)
            yield frame

    def _readable_probabilities(self, table: MovieTable) -> np.ndarray:
        """``predict_proba`` of the rows the model can read; NaN rows for the others, which it is never given."""
        readable = self.model.readable(table)
        known = self.model.predict_proba(table.subset(readable)) if readable.any() else None
        probabilities = np.full((len(table), len(self.genres)), np.nan,
                                dtype=known.dtype if known is not None else np.float32)
        if known is not None:
            probabilities[readable] = known
        return probabilities
