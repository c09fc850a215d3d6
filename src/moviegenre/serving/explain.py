"""Why the model predicts a genre: which poster regions and which description words raise it.

    >>> from moviegenre.serving.explain import Explainer
    >>> explanation = Explainer(Predictor()).explain(poster=open("poster.jpg", "rb").read(), description="...")
    >>> explanation.overlay("Horror").save("horror.png"); explanation.word_table()

Both explanations are occlusions, measured on the probability the model outputs: a poster region's score for a
genre is how much the probability drops when the region is greyed out (captum's ``Occlusion``, all genres in
one sweep); a word's score is how much it drops when the word is deleted from the description. The other input
stays as given, so a fusion model is explained in context. Occlusion was chosen over Grad-CAM (captum's
``LayerGradCam`` on the last conv layer) by looking at real posters: Grad-CAM through the mean-pooled EfficientNet
features spreads over most of the poster, while occlusion singles out a face, a creature or a figure; and it
needs only forward passes.

:class:`Scorer` is the in-memory path the web service shares: the predictor's model run on decoded inputs,
without the feature-cache writes of ``Predictor.predict`` (an upload must leave no trace).
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from moviegenre.data.genres import resolve_genres
from moviegenre.data.images import MAX_ASPECT, load_poster, poster_source
from moviegenre.data.table import atomic_write_bytes, atomic_write_text, clean_description
from moviegenre.errors import ConfigError, utf8_text
from moviegenre.features.cache import other_width
from moviegenre.features.fast import fast_encoder
from moviegenre.serving.compare import listed
from moviegenre.serving.predictor import Predictor, used_inputs

# 56-pixel squares moved 28 pixels, about a poster's face or title line: 81 occlusions of the 260-pixel input the
# packaged model's networks read (captum's last row and column of windows overhang the edge), 49 of a 224-pixel one.
OCCLUSION_WINDOW, OCCLUSION_STRIDE = 56, 28
OCCLUSION_BASELINE = 0.0  # what an occluded square is set to: mid-grey in the encoder's normalised input
# Longer descriptions are deleted in runs of words, so one explanation costs at most this many encodings.
MAX_WORD_GROUPS = 48
# Occluded posters and shortened descriptions per model call, and so how often a ``stop`` signal is read: a
# smaller call would stop a little sooner but batch less.
OCCLUSIONS_PER_CALL = WORDS_PER_CALL = 16
WORD = re.compile(r"\w+(?:['’]\w+)*")
HEAT_WIDTH = 224  # the heat layer's width: the map has one cell per stride (9x9 at 260 px), finer pixels add nothing
DIM = 0.45  # how much overlays darken the poster, so that the heat stands out (the page: style.css)
# A region whose greying lowers a genre's probability by less, on average, is noise: it is neither drawn at full heat
# nor named as where the map is hottest (a genre at p=0.001 cannot drop more, and its map scaled to its own maximum
# showed a bright spot that meant nothing).
MIN_DROP = 0.005
# Another third of the poster whose strongest cell comes this close to the hottest is named beside it: the colours are
# clipped, so two such spots look alike, and naming one of them sent a reader to the other.
NEAR_HOTTEST = 0.9
SCALE_HEIGHT, SCALE_BACKGROUND = 40, (24, 24, 24, 255)
# Outside these characters a genre's text could leave a file's folder ('/', '..'), or be no name the system allows.
UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")
MAX_NAME_GENRE = 100  # characters of a genre in its file name: a long one must not exceed the file system's 255 bytes
WORDS_CSV = "words.csv"


class ExplanationStopped(Exception):
    """An explanation given up part way because its ``stop`` signal was set (its web client hung up)."""


class Scorer:
    """The predictor's model on decoded inputs: image tensors and texts in, probabilities out."""

    def __init__(self, predictor: Predictor) -> None:
        model = predictor.model
        if not hasattr(model, "predict_from_features"):
            raise ConfigError(f"model '{model.name}' cannot be served or explained (it has no embedding head); "
                              "use a run of an -mlp or fusion- model")
        self.predictor, self.model = predictor, model
        # The ONNX Runtime twins (same vectors, cosine >= 0.999): EfficientNet is most of a request's CPU time.
        self.image = fast_encoder(model.encoder_ref("poster")) if "poster" in model.inputs else None
        reads_text = "description" in model.inputs or getattr(model, "embeds_poster_text", False)
        self.text = fast_encoder(model.encoder_ref("description")) if reads_text else None
        for encoder, modality in ((self.image, "poster"), (self.text, "description")):
            if encoder is not None and encoder.dim != model.dims_[modality]:  # else every request would fail
                raise other_width(encoder.name, encoder.dim, model.dims_[modality])
        # A fast (Rust) tokenizer re-configures itself on every call and fails ("Already borrowed") when two
        # threads share it; the image encoder has no such state and runs in parallel.
        self._text_lock = threading.Lock()

    def used(self, has_poster: bool, has_description: bool, has_title: bool = False) -> dict[str, bool]:
        """Which inputs the model will read; an error naming the fix when it would read none (a title alone is
        not enough: it is read beside a poster or a description)."""
        return {**used_inputs(self.model, has_poster, has_description),
                "title": has_title and self.predictor.reads_titles}

    def decode(self, poster: bytes, name: str = "poster") -> tuple[Image.Image, torch.Tensor]:
        """The safe loader's RGB image and the encoder's input tensor (CHW)."""
        image = load_poster(poster, name=name)
        return image, self.image.to_tensor(image)

    def poster_vectors(self, batch: torch.Tensor) -> np.ndarray:
        return self.image.encode_pixels(batch)

    def poster_text(self, image: Image.Image) -> str:
        """The text on a decoded poster, for a model that reads it ("" otherwise); never cached: an upload leaves
        no trace."""
        if not getattr(self.model, "reads_poster_text", False):
            return ""
        from moviegenre.features.poster_text import poster_text_reader

        return poster_text_reader().read(image)

    def description_vectors(self, texts: list[str]) -> np.ndarray:
        with self._text_lock:
            return self.text.encode_texts(texts, progress=False)

    def probabilities(self, poster: np.ndarray | None, description: np.ndarray | None, texts: list[str],
                      titles: list[str] | None = None, poster_texts: list[str] | None = None) -> np.ndarray:
        """(n, genres) probabilities from embedding rows and the n rows' description texts, titles and poster texts
        (the model's word features read them); None (or a row of zeros, an empty text) is a missing input."""
        n = len(texts)
        dims = self.model.dims_

        def rows(vectors: np.ndarray | None, dim: int) -> tuple[np.ndarray, np.ndarray]:
            if vectors is None:
                return np.zeros((n, dim), np.float32), np.zeros(n, np.float32)
            vectors = np.broadcast_to(vectors, (n, dim)).astype(np.float32)
            return vectors, (np.abs(vectors).sum(1) > 0).astype(np.float32)

        poster_rows, has_poster = rows(poster, dims["poster"])
        description_rows, has_description = rows(description, dims["description"])
        features = {"poster": poster_rows, "has_poster": has_poster, "description": description_rows,
                    "has_description": has_description}
        if getattr(self.model, "embeds_poster_text", False) and poster_texts is not None:
            # By the loaded encoder and never cached (an upload leaves no trace); an explanation repeats one text per
            # occluded square, encoded once.
            with self._text_lock:
                features["poster_text"] = self.model.poster_text_vectors(poster_texts, encoder=self.text,
                                                                         use_cache=False)
        return self.model.predict_from_features(features, texts, titles, poster_texts)

    def result(self, probabilities: np.ndarray, used: dict[str, bool]) -> dict:
        """The same dictionary ``Predictor.predict`` returns."""
        return self.predictor.result(probabilities, used)


@dataclass
class Explanation:
    """A prediction with, per explained genre, a poster heat map and a score per description word."""

    prediction: dict
    genres: list[str]
    poster: Image.Image | None = None
    heat: dict[str, np.ndarray] = field(default_factory=dict)  # genre -> probability drop per input pixel
    words: list[tuple[str, int, int]] = field(default_factory=list)  # (word, start, end) in the description
    word_scores: dict[str, np.ndarray] = field(default_factory=dict)  # genre -> probability drop per word

    def cells(self, genre: str) -> np.ndarray:
        """``genre``'s map as the occlusions made it: one mean drop per stride-sized cell (9x9 at 260 px)."""
        cells = self.heat[genre].shape[0] // OCCLUSION_STRIDE
        return np.asarray(Image.fromarray(self.heat[genre].astype(np.float32), "F")
                          .resize((cells, cells), Image.Resampling.BOX))

    def levels(self, genre: str) -> tuple[np.ndarray, float]:
        """``genre``'s map smoothed and scaled to [0, 1] by its strongest region, and that region's drop in
        probability when it is greyed out (what 1 on the colour scale means; at least ``MIN_DROP``, so that a map of
        noise stays faint)."""
        # Overlapping occlusions make a map of stride-sized cells; smooth those cells instead of drawing blocks.
        # Bicubic overshoots a cell's value beside a step: clipped to the cells' range, a map every cell of which
        # lowers the genre does not show a ringing crest as its 'strongest region'.
        cells = self.cells(genre)
        smoothed = Image.fromarray(cells, "F").resize((HEAT_WIDTH, HEAT_WIDTH), Image.Resampling.BICUBIC)
        heat = np.clip(np.asarray(smoothed), cells.min(), cells.max())
        scale = max(float(heat.max()), MIN_DROP)
        # Scaled per genre so the strongest region always shows; regions that lower the genre stay clear.
        return np.clip(heat / scale, 0, 1), scale

    def hottest(self, genre: str) -> str:
        """Where on the poster ``genre``'s map is hottest, in words ("the top left", "the middle right", "the
        centre", or two of those joined by "and" where another third comes within ``NEAR_HOTTEST`` of it): the heat
        map's text alternative, for a person who cannot see it. "" where no region raises it (by ``MIN_DROP`` or
        more)."""
        cells = self.cells(genre)
        if cells.max() < MIN_DROP:
            return ""
        # By the cells whose greying lowers the genre most (the colour scale's end); the map is the square input's,
        # which stretches to the poster's shape, so its thirds are the poster's.
        third = lambda index, count: min(int((index + 0.5) / count * 3), 2)
        strongest: dict[tuple[int, int], float] = {}
        for (row, column), drop in np.ndenumerate(cells):
            place = third(row, cells.shape[0]), third(column, cells.shape[1])
            strongest[place] = max(strongest.get(place, -np.inf), float(drop))
        ranked = sorted(strongest, key=lambda place: -strongest[place])
        near = [place for place in ranked[:2] if strongest[place] >= NEAR_HOTTEST * strongest[ranked[0]]]
        return " and ".join("the centre" if place == (1, 1) else
                            f"the {('top', 'middle', 'bottom')[place[0]]} {('left', 'centre', 'right')[place[1]]}"
                            for place in near)

    def heat_layer(self, genre: str, width: int = HEAT_WIDTH) -> Image.Image:
        """A transparent RGBA layer, the poster's shape: hot and opaque where the region raises ``genre``."""
        # Bounded whatever the poster: a 1x10000 image must not make a 224x2,240,000 layer.
        height = min(round(width * self.poster.height / self.poster.width), MAX_ASPECT * width)
        return Image.fromarray(heat_colours(self.levels(genre)[0]), "RGBA").resize((width, max(1, height)),
                                                                                  Image.Resampling.BICUBIC)

    def overlay(self, genre: str, width: int = 448) -> Image.Image:
        """The poster (``width`` wide), dimmed, with ``genre``'s heat layer on top and its colour scale below."""
        poster = self.poster.resize((width, round(width * self.poster.height / self.poster.width)))
        base = Image.blend(poster, Image.new("RGB", poster.size), DIM).convert("RGBA")
        out = Image.new("RGBA", (width, poster.height + SCALE_HEIGHT), SCALE_BACKGROUND)
        out.paste(Image.alpha_composite(base, self.heat_layer(genre).resize(poster.size, Image.Resampling.BICUBIC)))
        out.alpha_composite(self.scale_bar(genre, width), (0, poster.height))
        return out

    def scale_bar(self, genre: str, width: int) -> Image.Image:
        """The colour scale under an overlay: from no effect to the strongest region's probability drop."""
        bar = Image.new("RGBA", (width, SCALE_HEIGHT), SCALE_BACKGROUND)
        margin = 8
        ramp = heat_colours(np.tile(np.linspace(0, 1, width - 2 * margin), (12, 1)))
        bar.alpha_composite(Image.fromarray(ramp, "RGBA"), (margin, 6))
        draw, font = ImageDraw.Draw(bar), ImageFont.load_default()
        left, right = scale_labels(genre, self.levels(genre)[1], width - 2 * margin,
                                   lambda text: draw.textlength(text, font=font))
        draw.text((margin, 22), left, fill="white", font=font)
        draw.text((width - margin - draw.textlength(right, font=font), 22), right, fill="white", font=font)
        return bar

    def word_table(self) -> list[dict]:
        """One row per word: the word and its score for each explained genre."""
        return [{"word": word, **{g: round(float(self.word_scores[g][i]), 4) for g in self.genres}}
                for i, (word, _, _) in enumerate(self.words)]


def scale_labels(genre: str, drop: float, room: float, measure) -> tuple[str, str]:
    """The colour scale's two ends, worded as fully as ``room`` (pixels, by ``measure``) allows: a contact sheet's
    tiles are too narrow for the whole sentence, and a longer one would be drawn over the other end's word."""
    # Overlapping squares are greyed one at a time and each pixel shows the mean drop of those over it, so the
    # strongest drop is a mean, below that of the one square that lowers the genre most.
    sentence = f"greyed here, lowers p({genre}) by {drop:.3f} on average"
    wordings = [("no effect", sentence), ("", sentence), ("", f"lowers p({genre}) by {drop:.3f}"), ("", f"-{drop:.3f}")]
    return next(((left, right) for left, right in wordings if measure(f"{left}   {right}") <= room), wordings[-1])


def heat_colours(level: np.ndarray) -> np.ndarray:
    """RGBA bytes for heat levels in [0, 1]: clear where a region does not matter, opaque and bright where it
    raises the genre most (inferno from 0.25 up; the page's colour scale in style.css draws the same ramp)."""
    from matplotlib import colormaps  # matplotlib (and captum) load only when something is explained

    rgba = (colormaps["inferno"](0.25 + 0.75 * level) * 255).astype(np.uint8)
    rgba[..., 3] = (level ** 0.6 * 235).astype(np.uint8)
    return rgba


def overlay_files(genres: list[str]) -> dict[str, str]:
    """Each of a model's ``genres`` (all of them, in its order: a genre's file is named alike whichever genres are
    explained) -> its overlay's file name, ``overlay-<genre>.png``, one that stays in its folder and is the genre's
    alone. A genre is any text of the user's table (``../x``, ``Action/Adventure``): characters other than letters,
    digits and ``._-`` become ``_``, and a name already taken gets the genre's index appended. An ordinary genre,
    of those characters only, keeps its name whatever the unusual ones are called: its file is named as documented."""
    files, taken = {}, set()
    for index, genre in sorted(enumerate(genres), key=lambda item: bool(UNSAFE_IN_NAME.search(item[1]))):
        name = UNSAFE_IN_NAME.sub("_", genre)[:MAX_NAME_GENRE]
        while name.lower() in taken:  # case too: 'Drama' and 'drama' are one file on macOS and Windows
            name += f"-{index}"
        taken.add(name.lower())
        files[genre] = f"overlay-{name}.png"
    return files


def explanation_files(out: Path) -> list[Path]:
    """What an explanation written into ``out`` consists of, as far as it is there now: an earlier one's overlays
    and word table, which the next one replaces (another movie's overlays must not sit beside the new ones)."""
    return [*sorted(out.glob("overlay-*.png")), out / WORDS_CSV]


def write_explanation(explanation: Explanation, out: Path, model_genres: list[str]
                      ) -> tuple[dict[str, Path], Path | None]:
    """``explanation`` as files in ``out``: ``overlay-<genre>.png`` per explained genre (named among
    ``model_genres``, see :func:`overlay_files`) and ``words.csv`` where a description was explained. An earlier
    explanation's files are removed first; each file is written whole or not at all. Returns the overlays' paths, by
    genre, and the word table's (None without a description)."""
    out.mkdir(parents=True, exist_ok=True)
    for path in explanation_files(out):
        if not path.is_dir():  # not one of explain's files: kept (a write to its name fails in one line)
            path.unlink(missing_ok=True)
    files = overlay_files(model_genres)
    overlays = {genre: out / files[genre] for genre in explanation.heat}
    for genre, path in overlays.items():
        atomic_write_bytes(path, png_bytes(explanation.overlay(genre).convert("RGB")))
    if not (rows := explanation.word_table()):
        return overlays, None
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["word", *explanation.genres])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / WORDS_CSV, text.getvalue())
    return overlays, out / WORDS_CSV


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


class Explainer:
    """Explanations for one poster and/or description, with the predictor's model."""

    def __init__(self, predictor: Predictor | Scorer) -> None:
        self.scorer = predictor if isinstance(predictor, Scorer) else Scorer(predictor)

    def explain(self, poster: str | Path | bytes | Image.Image | None = None, description: str | None = None, *,
                top: int = 3, genres: list[str] | None = None, title: str | None = None,
                stop: Callable[[], bool] | None = None) -> Explanation:
        """Explain ``genres`` (default: the ``top`` most probable) for a poster (a path, its bytes or a PIL image)
        and/or a description (an optional title is read as context, as ``predict`` reads it, and not explained).
        ``stop`` (e.g. a ``threading.Event``'s ``is_set``) is asked between model calls; once it is true the
        explanation raises :class:`ExplanationStopped` instead of spending seconds on an answer nobody reads."""
        scorer = self.scorer
        if not isinstance(top, int) or top < 1:  # refused as the CLI refuses --top 0; it was read as 1 without a word
            raise ConfigError(f"top {top!r}: give at least 1")
        names = scorer.predictor.genres
        # As `compare` reads genres: any case, each once (a repeated genre would be explained again); named as the
        # service's repeated 'genre' field that gives them, and checked before any model pass.
        intended = resolve_genres(listed(genres, "genres"), names, where="genre")
        poster = poster_source(poster)
        description, title = clean_description(utf8_text(description, "description")), utf8_text(title, "title")
        used = scorer.used(poster is not None, bool(description), bool(title))
        title = title if used["title"] else ""
        image, tensor = scorer.decode(poster) if used["poster"] else (None, None)
        # The text read off the poster stays as read while regions are greyed: the heat shows the image's part.
        poster_text = scorer.poster_text(image) if used["poster"] and not used["description"] else ""
        poster_vector = scorer.poster_vectors(tensor[None]) if used["poster"] else None
        description_vector = scorer.description_vectors([description]) if used["description"] else None
        probabilities = self._probabilities(poster_vector, description_vector, [description], title, poster_text)[0]
        prediction = scorer.result(probabilities, used)
        chosen = intended or [names[i] for i in np.argsort(-probabilities)[:top]]
        explanation = Explanation(prediction, chosen, poster=image)
        columns = [names.index(g) for g in chosen]
        if used["poster"]:
            drops = self._poster_drops(tensor, description_vector, description, title, poster_text, stop)
            explanation.heat = {g: drops[c] for g, c in zip(chosen, columns)}
        if used["description"]:
            explanation.words, drops = self._word_drops(description, poster_vector, probabilities, title, stop)
            explanation.word_scores = {g: drops[:, c] for g, c in zip(chosen, columns)}
        return explanation

    def _probabilities(self, poster: np.ndarray | None, description: np.ndarray | None, texts: list[str],
                       title: str, poster_text: str = "") -> np.ndarray:
        """The scorer's probabilities for rows that share one title and one poster text."""
        n = len(texts)
        return self.scorer.probabilities(poster, description, texts, [title] * n, [poster_text] * n)

    def _poster_drops(self, tensor: torch.Tensor, description_vector: np.ndarray | None,
                      description: str, title: str, poster_text: str,
                      stop: Callable[[], bool] | None = None) -> np.ndarray:
        """(genres, H, W): how much each genre's probability drops when the region around a pixel is greyed."""
        scorer = self.scorer

        def forward(batch: torch.Tensor) -> torch.Tensor:
            _stop_if_asked(stop)
            vectors = scorer.poster_vectors(batch)
            return torch.from_numpy(self._probabilities(vectors, description_vector, [description] * len(batch),
                                                        title, poster_text))

        # Zero is mid-grey in the encoder's normalised input: the occluded square carries no content.
        from captum.attr import Occlusion

        attribution = Occlusion(forward).attribute(
            tensor[None], sliding_window_shapes=(3, OCCLUSION_WINDOW, OCCLUSION_WINDOW),
            strides=(3, OCCLUSION_STRIDE, OCCLUSION_STRIDE), baselines=OCCLUSION_BASELINE,
            perturbations_per_eval=OCCLUSIONS_PER_CALL)
        return attribution[:, 0].numpy()  # the same for every channel

    def _word_drops(self, description: str, poster_vector: np.ndarray | None, probabilities: np.ndarray,
                    title: str, stop: Callable[[], bool] | None = None
                    ) -> tuple[list[tuple[str, int, int]], np.ndarray]:
        """The description's words and (words, genres) probability drops when each word (or its run) is deleted (a
        description is given, so the poster's text is not read)."""
        words = [(m.group(), m.start(), m.end()) for m in WORD.finditer(description)]
        if not words:
            return [], np.zeros((0, len(probabilities)), np.float32)
        size = -(-len(words) // MAX_WORD_GROUPS)  # words per deleted run
        groups = [words[i: i + size] for i in range(0, len(words), size)]
        texts = [" ".join((description[:group[0][1]] + description[group[-1][2]:]).split()) for group in groups]
        # Deleting the only words leaves no description: a zero row, which the model reads as a missing input.
        vectors = np.zeros((len(texts), self.scorer.model.dims_["description"]), np.float32)
        kept = [i for i, text in enumerate(texts) if WORD.search(text)]
        for start in range(0, len(kept), WORDS_PER_CALL):
            chunk = kept[start: start + WORDS_PER_CALL]
            _stop_if_asked(stop)
            vectors[chunk] = self.scorer.description_vectors([texts[i] for i in chunk])
        drops = probabilities[None, :] - self._probabilities(poster_vector, vectors, texts, title)
        return words, np.repeat(drops, [len(g) for g in groups], axis=0)[: len(words)]


def _stop_if_asked(stop: Callable[[], bool] | None) -> None:
    """Raises ExplanationStopped once ``stop()`` is true."""
    if stop is not None and stop():
        raise ExplanationStopped("explanation stopped: its stop signal was set")
