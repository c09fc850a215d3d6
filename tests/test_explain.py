"""Explanations: the occlusion map points at the region that matters, words get their own scores, and the
``explain`` command writes the overlays and the word table."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from moviegenre.cli import app
from moviegenre.errors import DataError
from moviegenre.serving.explain import (
    MAX_WORD_GROUPS,
    MIN_DROP,
    SCALE_HEIGHT,
    Explainer,
    Explanation,
    Scorer,
    write_explanation,
)
from moviegenre.serving.predictor import Predictor
from test_serving import DESCRIPTION, HOTTEST, build_tiny_run, one_torch_thread  # noqa: F401  (autouse)


class BrightCornerScorer(Scorer):
    """A stand-in model: 'Horror' rises with the brightness of the poster's top-left quarter and with the
    word 'ghost'; 'Comedy' stays flat. It makes the right answer known."""

    def __init__(self) -> None:
        self.image = self.text = object()
        self.model = type("Model", (), {"dims_": {"poster": 1, "description": 1}, "name": "fake",
                                        "inputs": ("poster", "description")})()
        self.predictor = type("P", (), {"genres": ["Comedy", "Horror"], "reads_titles": False})()
        self.size = 224

    def decode(self, poster: bytes, name: str = "poster"):
        image = Image.open(io.BytesIO(poster)).convert("RGB")
        array = np.asarray(image.resize((self.size, self.size)), np.float32)
        return image, (torch.from_numpy(array).permute(2, 0, 1) - 127.0) / 128.0

    def poster_vectors(self, batch: torch.Tensor) -> np.ndarray:
        return batch[:, :, :112, :112].mean(dim=(1, 2, 3)).numpy()[:, None] + 2.0  # never an all-zero row

    def description_vectors(self, texts: list[str]) -> np.ndarray:
        return np.array([[1.0 + 2.0 * ("ghost" in text.split())] for text in texts], np.float32)

    def probabilities(self, poster, description, texts, titles=None, poster_texts=None):
        n = len(texts)
        poster = np.zeros((n, 1)) if poster is None else np.broadcast_to(poster, (n, 1))
        description = np.zeros((n, 1)) if description is None else np.broadcast_to(description, (n, 1))
        horror = 1 / (1 + np.exp(-(poster[:, 0] + description[:, 0] - 3)))
        return np.stack([np.full(n, 0.5), horror], axis=1).astype(np.float32)

    def result(self, probabilities, used):
        return {"genres": [], "probabilities": dict(zip(self.predictor.genres, probabilities.tolist())),
                "used": used}


def bright_corner_poster() -> bytes:
    pixels = np.full((300, 200, 3), 40, np.uint8)
    pixels[:150, :100] = 230  # the top-left quarter, after the stretch to a square
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_occlusion_points_at_the_region_that_raises_the_genre() -> None:
    explanation = Explainer(BrightCornerScorer()).explain(bright_corner_poster(), genres=["Horror", "Comedy"])
    heat = explanation.heat["Horror"]
    assert heat.shape == (224, 224)
    assert heat[:112, :112].mean() > 0.02 and np.abs(heat[140:, 140:]).max() < 1e-6
    assert np.abs(explanation.heat["Comedy"]).max() < 1e-6  # a flat genre gets a flat map
    layer = np.asarray(explanation.heat_layer("Horror"))
    assert layer.shape == (336, 224, 4)  # the poster's 2:3 shape
    assert layer[:100, :80, 3].mean() > 4 * layer[220:, 150:, 3].mean()  # opaque where it matters


@pytest.mark.parametrize(("cell", "words"), [((0, 0), "the top left"), ((0, 4), "the top centre"),
                                             ((4, 4), "the centre"), ((4, 8), "the middle right"),
                                             ((8, 1), "the bottom left")])
def test_the_hottest_region_is_told_in_words(cell, words) -> None:
    """The heat map's text alternative (the page's alt text, the explain command's line) for a person who cannot
    see it: where the strongest region is, in thirds of the poster."""
    heat = np.zeros((252, 252), np.float32)  # 9x9 cells of 28 px, as a 260-px input's map
    row, column = cell
    heat[row * 28:(row + 1) * 28, column * 28:(column + 1) * 28] = 0.1
    heat[:28, 224:] = 0.04  # a weaker region elsewhere: not the hottest
    explanation = Explanation(prediction={}, genres=["Horror"], heat={"Horror": heat, "Comedy": -heat})
    assert explanation.hottest("Horror") == words
    assert explanation.hottest("Comedy") == ""  # nothing raises it
    levels, drop = explanation.levels("Comedy")  # nor is a crest of the smoothing's overshoot drawn as if it did
    assert drop == MIN_DROP and not levels.any()


def test_a_third_nearly_as_hot_is_named_beside_the_hottest() -> None:
    """Colours are clipped: two spots of 0.100 and 0.095 look alike, and naming one sent the reader to the other."""
    heat = np.zeros((252, 252), np.float32)
    heat[224:, 112:140] = 0.1  # the bottom centre
    heat[112:140, 224:] = 0.095  # the middle right: within NEAR_HOTTEST of it
    heat[:28, :28] = 0.08  # the top left: not
    explanation = Explanation(prediction={}, genres=["Horror"], heat={"Horror": heat})
    assert explanation.hottest("Horror") == "the bottom centre and the middle right"
    assert re.fullmatch(HOTTEST, explanation.hottest("Horror"))


def test_a_map_of_negligible_drops_is_faint_and_names_no_hottest_region() -> None:
    """A genre at p=0.001 cannot drop by more: scaled to its own maximum, its map showed a bright spot, and the
    explain line named where it was ('squares greyed there lower p by 0.000')."""
    heat = np.zeros((252, 252), np.float32)
    heat[:28, :28] = 0.0003
    heat[112:140, 112:140] = MIN_DROP  # just noticeable: named and drawn at full heat
    explanation = Explanation(prediction={}, genres=["Western", "Horror"], poster=Image.new("RGB", (200, 300)),
                              heat={"Western": heat * (heat < MIN_DROP), "Horror": heat})
    assert explanation.hottest("Western") == "" and explanation.hottest("Horror") == "the centre"
    levels, drop = explanation.levels("Western")
    assert drop == MIN_DROP and 0 < levels.max() <= 0.0003 / MIN_DROP + 1e-6
    assert np.asarray(explanation.heat_layer("Western"))[..., 3].max() < 0.2 * 235
    assert explanation.levels("Horror")[0].max() == pytest.approx(1.0, abs=0.01)


def test_overlays_carry_their_colour_scale() -> None:
    explanation = Explainer(BrightCornerScorer()).explain(bright_corner_poster(), genres=["Horror"])
    overlay = np.asarray(explanation.overlay("Horror", width=300).convert("RGB")).astype(int)
    ramp = overlay[-SCALE_HEIGHT + 12]  # a row through the colour scale under the poster
    assert ramp[12].sum() < 150 and ramp[-12].sum() > 600  # dark at 'no effect', bright at the strongest drop
    # The scale's top is the strongest region of the map as drawn: the heat averaged per 28-pixel occlusion cell, then
    # smoothed back up (bicubic, its overshoot clipped to the cells' range: the top is the top-left cells' drop).
    heat = explanation.heat["Horror"]
    cells = Image.fromarray(heat, "F").resize((8, 8), Image.Resampling.BOX)
    smoothed = np.clip(np.asarray(cells.resize((224, 224), Image.Resampling.BICUBIC)), *cells.getextrema())
    levels, top = explanation.levels("Horror")
    assert top == pytest.approx(float(np.asarray(cells).max()), rel=1e-6) and 0.9 * heat.max() < top <= heat.max()
    np.testing.assert_allclose(levels, np.clip(smoothed / top, 0, 1), atol=1e-6)


@pytest.mark.parametrize(("width", "left", "right"), [
    (448, "no effect", "greyed here, lowers p(Horror) by 0.040 on average"),
    (168, "", "lowers p(Horror) by 0.040"),  # a contact sheet's tile: the sentence would run over 'no effect'
    (40, "", "-0.040"),
])
def test_the_colour_scale_words_its_ends_as_fully_as_its_width_allows(width, left, right) -> None:
    from PIL import ImageDraw, ImageFont

    from moviegenre.serving.explain import scale_labels

    draw, font = ImageDraw.Draw(Image.new("RGB", (1, 1))), ImageFont.load_default()
    measure = lambda text: draw.textlength(text, font=font)
    assert scale_labels("Horror", 0.04, width - 16, measure) == (left, right)
    assert width < 100 or measure(f"{left}   {right}") <= width - 16


def test_words_are_scored_by_deleting_them() -> None:
    text = "A ghost walks at night"
    explanation = Explainer(BrightCornerScorer()).explain(description=text, genres=["Horror"])
    assert [w for w, _, _ in explanation.words] == ["A", "ghost", "walks", "at", "night"]
    assert all(text[s:e] == w for w, s, e in explanation.words)
    scores = dict(zip([w for w, _, _ in explanation.words], explanation.word_scores["Horror"]))
    assert scores["ghost"] > 0.1 and all(abs(scores[w]) < 1e-6 for w in ("A", "walks", "at", "night"))
    assert explanation.word_table()[1] == {"word": "ghost", "Horror": round(float(scores["ghost"]), 4)}


def test_a_single_word_deleted_leaves_no_description() -> None:
    explanation = Explainer(BrightCornerScorer()).explain(description="ghost", genres=["Horror"])
    # Without its only word the movie has no input left (a zero row), not an empty text.
    without = 1 / (1 + np.exp(3.0))
    assert explanation.word_scores["Horror"][0] == pytest.approx(0.5 - without, abs=1e-6)


def test_long_descriptions_are_deleted_in_runs() -> None:
    text = " ".join(["night"] * (3 * MAX_WORD_GROUPS - 1) + ["ghost"])  # runs of 3 words
    explanation = Explainer(BrightCornerScorer()).explain(description=text, genres=["Horror"])
    scores = explanation.word_scores["Horror"]
    assert len(scores) == len(explanation.words) == 3 * MAX_WORD_GROUPS
    assert scores[-1] > 0.1 and scores[-2] == scores[-1]  # 'ghost' shares its run with the words before it


def test_unknown_genre_is_a_one_line_error() -> None:
    with pytest.raises(DataError, match="unknown genre 'Noir'"):
        Explainer(BrightCornerScorer()).explain(description="ghost", genres=["Noir"])


def test_write_explanation_replaces_an_earlier_explanations_files(tmp_path: Path) -> None:
    """The library writes what the command prints: an overlay per explained genre and the word table; a later
    explanation without a description leaves no stale word table or other genre's overlay behind."""
    explainer = Explainer(BrightCornerScorer())
    both = explainer.explain(bright_corner_poster(), "a ghost story", genres=["Horror", "Comedy"])
    overlays, words = write_explanation(both, tmp_path, ["Comedy", "Horror"])
    assert overlays == {"Horror": tmp_path / "overlay-Horror.png", "Comedy": tmp_path / "overlay-Comedy.png"}
    assert Image.open(overlays["Horror"]).size == (448, 672 + SCALE_HEIGHT)
    assert words == tmp_path / "words.csv" and next(csv.DictReader(words.open())).keys() == {"word", "Horror", "Comedy"}
    (tmp_path / "mine.txt").write_text("kept")
    poster_only = explainer.explain(bright_corner_poster(), genres=["Horror"])
    assert write_explanation(poster_only, tmp_path, ["Comedy", "Horror"]) == ({"Horror": overlays["Horror"]}, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt", "overlay-Horror.png"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_run(tmp_path_factory.getbasetemp() / "tiny-serving-run")


def test_real_model_explanation_agrees_with_the_predictor(tiny_run: Path, tmp_path: Path) -> None:
    from conftest import draw_poster

    poster = draw_poster(tmp_path / "p.png", seed=5, size=(90, 135)).read_bytes()
    predictor = Predictor(tiny_run)
    explanation = Explainer(predictor).explain(poster, DESCRIPTION, top=2)
    expected = predictor.predict(poster=poster, description=DESCRIPTION)
    assert explanation.genres == list(expected["probabilities"])[:2]
    assert explanation.prediction["probabilities"] == pytest.approx(expected["probabilities"], abs=2e-4)
    assert explanation.overlay(explanation.genres[0]).size == (448, 672 + SCALE_HEIGHT)  # the colour scale below


def test_explain_command_writes_overlays_and_word_table(tiny_run: Path, tmp_path: Path) -> None:
    from conftest import draw_poster

    poster = draw_poster(tmp_path / "p.png", seed=7)
    result = CliRunner().invoke(app, ["explain", str(tiny_run), "--poster", str(poster), "--description",
                                      DESCRIPTION, "--top", "2", "--out", str(tmp_path / "why")])
    assert result.exit_code == 0, result.output
    overlays = sorted((tmp_path / "why").glob("overlay-*.png"))
    assert len(overlays) == 2 and Image.open(overlays[0]).size == (448, 672 + SCALE_HEIGHT)
    rows = list(csv.DictReader((tmp_path / "why" / "words.csv").open()))
    assert rows[1]["word"] == "ghost" and len(rows[0]) == 3
    assert "heat map ->" in result.output
    said = " ".join(result.output.split())  # as one line: the console wraps it
    assert re.search(rf"\.png \((hottest at ({HOTTEST}): squares greyed there lower p by \d\.\d{{3}} on average|"
                     r"no region of the poster raises it)\)", said)
