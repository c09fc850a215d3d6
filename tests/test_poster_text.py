"""Text read off posters (OCR): read from a poster drawn with known words, cached per poster content, and read by
fusion-gmu (a character word model and a poster network) only where the poster is the only input, the same way in
every path (API, service, explainer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from conftest import GENRES, WORDS
from moviegenre.data.genres import GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.features import poster_text
from moviegenre.models import create_model
from moviegenre.models.base import load_model
from moviegenre.training.config import TrainConfig


@pytest.fixture(autouse=True)
def rapidocr():
    # Imported once the tests run, not while they are collected: it imports onnxruntime, which writes a device id
    # under $HOME on import, and only then does conftest's private_caches point HOME at a temporary folder.
    return pytest.importorskip("rapidocr_onnxruntime", reason="reading poster text needs rapidocr-onnxruntime")


def draw_titled_poster(path, lines: list[str]) -> str:
    image = Image.new("RGB", (300, 450), (245, 240, 230))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=44)
    for row, line in enumerate(lines):
        draw.text((20, 120 + 70 * row), line, fill=(10, 10, 10), font=font)
    image.save(path)
    return str(path)


def test_the_words_on_a_drawn_poster_are_read_and_cached_per_content(tmp_path, monkeypatch):
    poster = draw_titled_poster(tmp_path / "p.png", ["NIGHT OF", "THE DEAD"])
    text = poster_text.read_poster_texts([poster, ""])
    assert text[1] == ""
    read = text[0].upper().replace(" ", "")
    assert "NIGHT" in read and "DEAD" in read, text
    # The same content under another name, or as bytes, is not read again.
    copy = tmp_path / "renamed.png"
    copy.write_bytes((tmp_path / "p.png").read_bytes())
    monkeypatch.setattr(poster_text.PosterTextReader, "read", lambda self, image: pytest.fail("read again"))
    assert poster_text.read_poster_texts([str(copy), copy.read_bytes()]) == [text[0], text[0]]


def test_ocr_engines_are_built_once_not_per_call(tmp_path, monkeypatch):
    import rapidocr_onnxruntime

    built = []

    class Counted(rapidocr_onnxruntime.RapidOCR):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(rapidocr_onnxruntime, "RapidOCR", Counted)
    posters = [draw_titled_poster(tmp_path / f"{i}.png", [word]) for i, word in enumerate(["ALIEN", "JAWS"])]
    poster_text.poster_text_reader.cache_clear()  # a new reader, whose engines are built as Counted
    try:
        first = poster_text.read_poster_texts(posters, use_cache=False)
        engines = len(built)
        assert 1 <= engines <= 2
        assert poster_text.read_poster_texts(posters, use_cache=False) == first
        assert len(built) == engines  # the second call reused the first call's engines
    finally:
        poster_text.poster_text_reader.cache_clear()  # later tests get a reader of their own


@pytest.fixture
def ocr_reads_genre_words(monkeypatch, session_tiny_table_csv):
    """OCR that 'reads' each tiny poster's first genre's words (the tiny posters are drawn without text)."""
    table = read_table(session_tiny_table_csv)
    words = {Path(p).read_bytes(): WORDS[g[0]] for p, g in zip(table.posters, table.genres) if p and g and g[0] in GENRES}

    def read_poster_texts(posters, use_cache=True, progress=False):
        return [words.get(p if isinstance(p, bytes) else Path(p).read_bytes(), "") if p else "" for p in posters]

    monkeypatch.setattr(poster_text, "read_poster_texts", read_poster_texts)
    monkeypatch.setattr(poster_text.PosterTextReader, "read", lambda self, image: "")
    return table


def test_poster_text_is_blended_only_where_the_poster_is_the_only_input(ocr_reads_genre_words, tmp_path):
    table = ocr_reads_genre_words
    encoder = GenreEncoder(min_count=3).fit(table.genres)
    labels, genres = encoder.transform(table.genres), encoder.classes_
    model = create_model("fusion-gmu", ensemble=1, config=TrainConfig(max_epochs=2, progress=False))
    model.fit(table, labels, genres=genres)
    assert model.reads_poster_text and model.poster_words_.analyzer == "char" and len(model.alone_nets_["poster"]) == 1
    with_text = {use: model.predict_proba(table.with_inputs(use)) for use in ("poster", "both", "description")}
    weights = {name: getattr(model, name) for name in ("poster_text_weight", "poster_net_weight")}
    model.set_params(poster_text_weight=0.0)
    without_words = model.predict_proba(table.with_inputs("poster"))
    model.set_params(poster_net_weight=0.0)
    without = {use: model.predict_proba(table.with_inputs(use)) for use in ("poster", "both", "description")}
    model.set_params(**weights)
    # The word model and the poster network each move the poster-only probabilities, and nothing else.
    assert np.abs(with_text["poster"] - without_words).max() > 0.01
    assert np.abs(without_words - without["poster"]).max() > 0.01
    np.testing.assert_array_equal(with_text["both"], without["both"])
    np.testing.assert_array_equal(with_text["description"], without["description"])
    loaded = load_model(model.save(tmp_path / "run"))
    np.testing.assert_allclose(loaded.predict_proba(table.with_inputs("poster")), with_text["poster"], atol=1e-5)


def test_the_service_and_the_explainer_read_poster_text_as_predict_does(ocr_reads_genre_words, tmp_path, monkeypatch):
    from moviegenre.serving.explain import Explainer
    from moviegenre.serving.predictor import Predictor

    table = ocr_reads_genre_words
    encoder = GenreEncoder(min_count=3).fit(table.genres)
    model = create_model("fusion-gmu", ensemble=1, config=TrainConfig(max_epochs=2, progress=False))
    model.fit(table, encoder.transform(table.genres), genres=encoder.classes_)
    model.save(tmp_path / "run")
    row = int(np.flatnonzero(table.has_poster)[0])
    poster = Path(table.posters[row]).read_bytes()
    read = poster_text.read_poster_texts([poster])[0]
    assert read
    monkeypatch.setattr(poster_text.PosterTextReader, "read", lambda self, image: read)  # what the service reads
    predicted = Predictor(tmp_path / "run").predict(poster=poster)
    explained = Explainer(Predictor(tmp_path / "run")).explain(poster=poster, top=1).prediction
    assert predicted["probabilities"] == pytest.approx(explained["probabilities"], abs=1e-4)
