"""The fast (ONNX Runtime) embedding path gives the plain path's vectors: cosine >= 0.999 on every item."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import GENRES, WORDS, draw_poster
from moviegenre.features.encoders import image_encoder, text_encoder
from moviegenre.features.fast import FastImageEncoder, FastTextEncoder, fast_encoder

MIN_COSINE = 0.999


@pytest.fixture(autouse=True)
def onnxruntime():
    # Imported once the tests run, not while they are collected: onnxruntime writes a device id under $HOME
    # on import, and only then does conftest's private_caches point HOME at a temporary folder.
    return pytest.importorskip("onnxruntime", reason="the fast path needs onnxruntime")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("name", ["efficientnet-lite0", "efficientnet-lite0+flip"])
def test_fast_posters_match_plain(tmp_path, name):
    paths = [str(draw_poster(tmp_path / f"p{i}.png", seed=i, size=(64 + 40 * i, 96 + 13 * i))) for i in range(8)]
    plain = image_encoder(name)
    fast = fast_encoder(plain)
    assert isinstance(fast, FastImageEncoder) and (fast.name, fast.dim) == (plain.name, plain.dim)
    expected = plain.encode_files(paths, progress=False)
    got = fast.encode_files(paths, batch_size=3, progress=False)  # a ragged last batch on purpose
    assert got.shape == expected.shape and got.dtype == np.float32
    assert cosines(got, expected).min() >= MIN_COSINE


def test_fast_descriptions_match_plain():
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(" ".join(WORDS[g] for g in GENRES).split(), size=n)) for n in range(1, 17)]
    texts[-1] = "A long one. " * 200  # past the model's 256-token limit: both paths must truncate alike
    plain = text_encoder("minilm")
    fast = fast_encoder(plain)
    assert isinstance(fast, FastTextEncoder) and (fast.name, fast.dim) == (plain.name, plain.dim)
    expected = plain.encode_texts(texts, progress=False)
    got = fast.encode_texts(texts, batch_size=5, progress=False)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert cosines(got, expected).min() >= MIN_COSINE


def test_the_mirrored_view_encoder_averages_a_poster_and_its_mirror_image(tmp_path):
    from PIL import ImageOps

    from moviegenre.data.images import load_image

    image = load_image(draw_poster(tmp_path / "p.png", seed=3, size=(80, 120)))
    image.paste((255, 255, 255), (0, 0, 20, 120))  # a white band on the left only: the mirror image differs
    plain, mirrored = image_encoder("efficientnet-lite0"), image_encoder("efficientnet-lite0+flip")
    assert mirrored.name == "efficientnet-lite0+flip" and mirrored.dim == plain.dim
    views = plain.encode_images([image, ImageOps.mirror(image)])
    assert cosines(views[:1], views[1:])[0] < 0.999  # the two views really differ ...
    np.testing.assert_allclose(mirrored.encode_images([image])[0], views.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mirrored.encode_images([ImageOps.mirror(image)]), mirrored.encode_images([image]),
                               rtol=1e-4, atol=1e-5)  # ... and the average is the same for both
