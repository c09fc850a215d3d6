"""The fast (ONNX Runtime) embedding path gives the plain path's vectors: cosine >= 0.999 on every item."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import GENRES, WORDS, draw_poster
from moviegenre.features.encoders import EfficientNetLite, image_encoder, text_encoder
from moviegenre.features.fast import FastImageEncoder, FastTextEncoder, fast_encoder

MIN_COSINE = 0.999


@pytest.fixture(autouse=True)
def onnxruntime():
    # Imported once the tests run, not while they are collected: onnxruntime writes a device id under $HOME
    # on import, and only then does conftest's private_caches point HOME at a temporary folder.
    return pytest.importorskip("onnxruntime", reason="the fast path needs onnxruntime")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("name", ["efficientnet-lite0", "efficientnet-lite0+flip", "efficientnet-lite0+lite1+lite2+flip"])
def test_fast_posters_match_plain(tmp_path, name):
    paths = [str(draw_poster(tmp_path / f"p{i}.png", seed=i, size=(64 + 40 * i, 96 + 13 * i))) for i in range(8)]
    plain = image_encoder(name)
    fast = fast_encoder(plain)
    assert isinstance(fast, FastImageEncoder) and (fast.name, fast.dim) == (plain.name, plain.dim)
    expected = plain.encode_files(paths, progress=False)
    got = fast.encode_files(paths, batch_size=3, progress=False)  # a ragged last batch on purpose
    assert got.shape == expected.shape and got.dtype == np.float32
    assert cosines(got, expected).min() >= MIN_COSINE


@pytest.mark.parametrize("name", ["minilm", "mpnet", "mpnet-l11"])
def test_fast_descriptions_match_plain(name):
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(" ".join(WORDS[g] for g in GENRES).split(), size=n)) for n in range(1, 17)]
    texts[-1] = "A long one. " * 200  # past the models' 256/384-token limits: both paths must truncate alike
    plain = text_encoder(name)
    fast = fast_encoder(plain)
    assert isinstance(fast, FastTextEncoder) and (fast.name, fast.dim) == (plain.name, plain.dim)
    expected = plain.encode_texts(texts, progress=False)
    got = fast.encode_texts(texts, batch_size=5, progress=False)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert cosines(got, expected).min() >= MIN_COSINE


def test_a_truncated_text_encoder_pools_the_layer_under_the_last():
    import torch

    texts = ["A sheriff faces an outlaw gang at noon.", "Two rival boxers train for the title fight of their lives."]
    full, cut = text_encoder("mpnet"), text_encoder("mpnet-l11")
    transformer = full.model[0]
    batch = transformer.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = transformer.auto_model(**batch, output_hidden_states=True).hidden_states[11]
    mask = batch["attention_mask"][..., None].float()
    expected = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(cut.encode_texts(texts, progress=False), expected, atol=1e-4)
    assert cosines(full.encode_texts(texts, progress=False), expected).max() < 0.99  # a different vector ...
    assert len(transformer.auto_model.encoder.layer) == 12  # ... and the full encoder keeps all its layers


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


def test_several_networks_read_the_same_poster_and_their_vectors_are_concatenated(tmp_path):
    from moviegenre.data.images import load_image

    image = load_image(draw_poster(tmp_path / "p.png", seed=5, size=(80, 120)))
    together = image_encoder("efficientnet-lite0+lite1+lite2+flip")
    assert (together.dim, together.image_size, len(together.model)) == (3840, 260, 3)
    pixels = together.to_tensor(image)[None]
    assert pixels.shape == (1, 3, 260, 260)  # the largest network's input; the others read it too
    vector = together.encode_pixels(pixels)
    assert vector.shape == (1, 3840)
    for block, alone in enumerate(("lite0", "lite1", "lite2")):
        np.testing.assert_allclose(vector[:, 1280 * block: 1280 * (block + 1)],
                                   EfficientNetLite(alone, mirror=True).encode_pixels(pixels), rtol=1e-4, atol=1e-5)


def test_an_export_is_written_once_and_loaded_by_name_without_pytorch(tmp_path, monkeypatch):
    """A later process loads the ONNX export from the cache by the encoder's name: no torch, transformers or
    sentence-transformers import, and the encoder is never built (what makes a one-off ``predict`` fast)."""
    import json
    import subprocess
    import sys

    from moviegenre.features import fast
    from moviegenre.features.fast import _export_folder

    # The memo is keyed by name alone: an encoder an earlier test loaded from another cache folder must not stand
    # in for this cache's export.
    monkeypatch.setattr(fast, "_loaded", {})
    texts = ["A detective hunts a killer.", "Two friends fall in love in Paris."]
    expected = fast_encoder(text_encoder("minilm")).encode_texts(texts, progress=False)
    folder = _export_folder("minilm")
    assert (folder / "encoder.json").is_file() and (folder / "model.onnx").is_file()

    def exports() -> dict:
        """Every file and folder of the cache's exports, with what changes when one is written again."""
        return {str(path.relative_to(folder.parent)): (path.stat().st_ino, path.stat().st_mtime_ns, path.stat().st_size)
                for path in sorted(folder.parent.rglob("*"))}

    before = exports()
    code = f"""
import json, sys
from moviegenre.features.fast import EncoderRef, fast_encoder
def never():
    raise AssertionError("the encoder was built")
vectors = fast_encoder(EncoderRef("minilm", 384, never)).encode_texts({texts!r}, progress=False)
heavy = [m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules]
print(json.dumps({{"vectors": vectors.tolist(), "heavy": heavy}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    np.testing.assert_allclose(np.array(result["vectors"], np.float32), expected, atol=1e-5)
    assert exports() == before  # read, not written again (nor a second export, nor a scratch folder left)


def test_a_half_written_export_is_never_loaded(tmp_path, monkeypatch):
    """An export interrupted before its rename leaves no folder under the final name: the next run exports again."""
    from moviegenre.features import fast

    monkeypatch.setattr(fast, "EXPORT_VERSION", "test-interrupted")
    folder = fast._export_folder("efficientnet-lite0")

    def interrupted(plain, scratch):
        (scratch / "model.onnx").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(fast, "_export_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fast._export(image_encoder("efficientnet-lite0"), folder)
    assert not folder.exists() and not list(folder.parent.glob(".partial-*"))
