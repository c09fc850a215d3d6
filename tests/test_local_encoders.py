"""Local encoder folders (``clip:<folder>``, ``st:<folder>``): a real CLIP folder works end to end, a folder of
another kind, a hostile config and a pickle anywhere in the folder are each one line, before any model is built."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import WORDS, draw_poster, make_tiny_table
from moviegenre.errors import ConfigError

CLIP_REFUSED = r"^clip:.*: not a transformers CLIP model with safetensors weights \("
ST_REFUSED = r"^text encoder 'st:.*': .* is not a sentence-transformers model folder with safetensors weights \("


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_clip(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config={"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "intermediate_size": 37, "max_position_embeddings": 32, "bos_token_id": 0, "eos_token_id": 1},
        vision_config={"image_size": 32, "patch_size": 8, "hidden_size": 32, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "intermediate_size": 37},
        projection_dim=16)
    CLIPModel(config).save_pretrained(folder)
    return folder


def tiny_bert(folder: Path) -> Path:
    """A transformers BERT folder (safetensors, a word-piece vocabulary): no modules.json, so sentence-transformers
    adds mean pooling."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    words = sorted(set(" ".join(WORDS.values()).split()) | {"a", "movie", "about"})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    BertModel(BertConfig(vocab_size=5 + len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=37, max_position_embeddings=64)).save_pretrained(folder)
    return folder


def tiny_st(folder: Path, dense: bool = False) -> Path:
    from sentence_transformers import SentenceTransformer, models

    bert = tiny_bert(folder.parent / f"{folder.name}-bert")
    modules = [models.Transformer(str(bert), max_seq_length=32), models.Pooling(32, "mean")]
    if dense:
        modules.append(models.Dense(32, 8))
    SentenceTransformer(modules=modules).save(str(folder))
    return folder


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    return tiny_clip(tmp_path_factory.mktemp("clip") / "clip")


@pytest.fixture(scope="module")
def st_folder(tmp_path_factory) -> Path:
    return tiny_st(tmp_path_factory.mktemp("st") / "st")


def copy(folder: Path, tmp_path: Path, name: str = "copy") -> Path:
    return Path(shutil.copytree(folder, tmp_path / name))


def edit_config(folder: Path, change, name: str = "config.json") -> None:
    path = folder / name
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


# -- 1: a CLIP folder works ------------------------------------------------------------------------------------------

def test_a_local_clip_folder_encodes_posters_at_its_projection_width(clip_folder, tmp_path):
    """transformers 5 returns an output object from get_image_features: it was "'BaseModelOutputWithPooling' object
    has no attribute 'float'"."""
    from moviegenre.features.encoders import ClipImage

    encoder = ClipImage(str(clip_folder))
    posters = [str(draw_poster(tmp_path / f"p{i}.png", seed=i)) for i in range(3)]
    vectors = encoder.encode_files(posters, progress=False)
    assert vectors.shape == (3, 16) and encoder.dim == 16 and np.isfinite(vectors).all()
    assert not np.allclose(vectors[0], vectors[1])


def test_a_local_clip_folders_onnx_export_gives_the_same_embedding(clip_folder, tmp_path, monkeypatch):
    """The export's first output was the token states, not the embedding: "damaged ONNX export"."""
    pytest.importorskip("onnxruntime")
    from moviegenre.features import fast
    from moviegenre.features.encoders import ClipImage

    monkeypatch.setenv("MOVIEGENRE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fast, "_loaded", {})
    plain = ClipImage(str(clip_folder))
    quick = fast.fast_encoder(plain)
    assert quick is not plain
    posters = [str(draw_poster(tmp_path / f"p{i}.png", seed=i)) for i in range(2)]
    expected = plain.encode_files(posters, progress=False)
    got = quick.encode_files(posters, progress=False)
    assert got.shape == (2, 16)
    np.testing.assert_allclose(got, expected, atol=1e-3)


@pytest.mark.parametrize("model", ["embedding-logreg", "poster-mlp"])
def test_models_train_on_a_local_clip_folder(model, clip_folder, st_folder, tmp_path):
    from moviegenre.data.readers import read_table
    from moviegenre.models.base import load_model
    from moviegenre.training.pipeline import train

    table = make_tiny_table(tmp_path)
    params = {"image_encoder": f"clip:{clip_folder}"}
    if model == "embedding-logreg":
        params["text_encoder"] = f"st:{st_folder}"
    options = {"max_epochs": 1} if model == "poster-mlp" else {}
    train(table, model, tmp_path / "run", min_genre_count=3, progress=False, params=params, **options)
    loaded = load_model(tmp_path / "run")
    assert loaded.name == model and loaded.image_encoder == f"clip:{clip_folder}"
    if model == "embedding-logreg":
        assert loaded.text_encoder == f"st:{st_folder}"
    movies = read_table(table)
    probabilities = loaded.predict_proba(movies)
    assert probabilities.shape == (len(movies), len(loaded.genres_)) and len(loaded.genres_) >= 2
    assert np.isfinite(probabilities).all() and ((probabilities >= 0) & (probabilities <= 1)).all()


# -- 2: a folder of another kind is refused ------------------------------------------------------------------------

def test_a_bert_folder_given_as_clip_is_refused_in_one_line(tmp_path):
    """It loaded as a randomly initialised CLIP with only a transformers warning."""
    from moviegenre.features.encoders import ClipImage

    bert = tiny_bert(tmp_path / "bert")
    with pytest.raises(ConfigError, match=CLIP_REFUSED + r"config.json gives model_type 'bert', not 'clip'\)$"):
        ClipImage(str(bert))


def test_a_sentence_transformers_folder_given_as_clip_is_refused_in_one_line(st_folder):
    from moviegenre.features.encoders import ClipImage

    with pytest.raises(ConfigError, match=CLIP_REFUSED + r"config.json gives model_type 'bert'"):
        ClipImage(str(st_folder))


def test_a_clip_config_over_another_networks_weights_is_refused(clip_folder, tmp_path):
    from moviegenre.features.encoders import ClipImage

    bert = tiny_bert(tmp_path / "bert")
    shutil.copy(clip_folder / "config.json", bert / "config.json")
    with pytest.raises(ConfigError, match=CLIP_REFUSED + r"its weights lack \d+ of the image tower's"):
        ClipImage(str(bert))


# -- 3: hostile JSON is one line, before a model is built -------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(("change", "said"), [
    (lambda c: c["vision_config"].update(image_size=2 ** 20), r"'image_size' is 1048576"),
    (lambda c: c.update(projection_dim=2 ** 34), r"'projection_dim' is 17179869184"),
    (lambda c: c.update(projection_dim=-5), r"'projection_dim' is -5"),
    (lambda c: c["vision_config"].update(num_hidden_layers=10 ** 9), r"'num_hidden_layers' is 1000000000"),
    (lambda c: c["vision_config"].update(hidden_size="wide"), r"'hidden_size' is wide"),
    (lambda c: c["vision_config"].update(hidden_size=4096, intermediate_size=262_144, num_hidden_layers=1024),
     r"describes a network of about"),
])
def test_hostile_clip_configs_are_one_line(change, said, clip_folder, tmp_path):
    from moviegenre.features.encoders import ClipImage

    folder = copy(clip_folder, tmp_path)
    edit_config(folder, change)
    with pytest.raises(ConfigError, match=CLIP_REFUSED + "config.json" + ": " * ("describes" not in said) + " " * (
            "describes" in said) + said):
        ClipImage(str(folder))


@pytest.mark.parametrize(("text", "said"), [
    ("[1, 2]", r"config.json holds a JSON list, not an object"),
    ('{"model_type": "clip", "deep": ' + DEEP + "}", r"config.json: JSON nested too deeply"),
    ('{"x": ', r"config.json: not valid JSON"),
])
def test_clip_config_files_that_are_not_objects_are_one_line(text, said, clip_folder, tmp_path):
    from moviegenre.features.encoders import ClipImage

    folder = copy(clip_folder, tmp_path)
    (folder / "config.json").write_text(text)
    with pytest.raises(ConfigError, match=CLIP_REFUSED + said):
        ClipImage(str(folder))


@pytest.mark.parametrize(("file", "change", "said"), [
    ("config.json", lambda c: c.update(hidden_size=2 ** 36, intermediate_size=2 ** 36), r"'hidden_size' is"),
    ("config.json", lambda c: c.update(num_hidden_layers=10 ** 9), r"'num_hidden_layers' is 1000000000"),
    ("config.json", lambda c: c.update(num_attention_heads=-2), r"'num_attention_heads' is -2"),
    ("1_Pooling/config.json", lambda c: c.update(word_embedding_dimension=2 ** 40), r"'word_embedding_dimension' is"),
    ("sentence_bert_config.json", lambda c: c.update(max_seq_length=10 ** 9), r"'max_seq_length' is 1000000000"),
])
def test_hostile_sentence_model_configs_are_one_line(file, change, said, st_folder, tmp_path):
    from moviegenre.features.encoders import SentenceEncoder

    folder = copy(st_folder, tmp_path)
    edit_config(folder, change, file)
    with pytest.raises(ConfigError, match=ST_REFUSED + f"{file}: " + said):
        SentenceEncoder("st:x", folder)


@pytest.mark.parametrize(("file", "text", "said"), [
    ("config.json", "[1, 2]", r"config.json holds a JSON list, not an object"),
    ("config.json", '{"model_type": "bert", "deep": ' + DEEP + "}", r"config.json: JSON nested too deeply"),
    ("modules.json", DEEP, r"modules.json: JSON nested too deeply"),
    ("modules.json", "[1]", r"modules.json is not a list of objects"),
    ("modules.json", '[{"idx": 0, "name": "0", "path": "", "type": "joblib.numpy_pickle"}]',
     r"modules.json names module type 'joblib.numpy_pickle'"),
])
def test_sentence_model_json_files_of_the_wrong_shape_are_one_line(file, text, said, st_folder, tmp_path):
    from moviegenre.features.encoders import SentenceEncoder

    folder = copy(st_folder, tmp_path)
    (folder / file).write_text(text)
    with pytest.raises(ConfigError, match=ST_REFUSED + said):
        SentenceEncoder("st:x", folder)


def test_a_library_error_while_building_is_one_line(clip_folder, tmp_path, monkeypatch):
    """RuntimeError/TypeError/RecursionError from the build were tracebacks."""
    import transformers

    from moviegenre.features.encoders import ClipImage

    for error in (RuntimeError("Storage size calculation overflowed\nmore"), TypeError("bad"), RecursionError()):
        def fail(*args, error=error, **kwargs):
            raise error
        monkeypatch.setattr(transformers.CLIPModel, "from_pretrained", fail)
        with pytest.raises(ConfigError, match=CLIP_REFUSED + r"[^\n]*\)$"):
            ClipImage(str(clip_folder))


# -- 4: no pickle anywhere in a local folder --------------------------------------------------------------------------

class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".pth", ".pkl"])
def test_a_pickle_in_a_sentence_models_dense_folder_is_refused_unread(suffix, tmp_path):
    """sentence-transformers read 2_Dense/pytorch_model.bin with torch.load whatever use_safetensors said."""
    from moviegenre.features.encoders import SentenceEncoder

    folder = tiny_st(tmp_path / "st-dense", dense=True)
    for weights in (folder / "2_Dense").glob("model.safetensors"):
        weights.unlink()
    marker = tmp_path / "unpickled"
    (folder / "2_Dense" / f"pytorch_model{suffix}").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ConfigError, match=ST_REFUSED + re.escape(f"it holds 2_Dense/pytorch_model{suffix}, a pickle")):
        SentenceEncoder("st:x", folder)
    assert not marker.exists()


def test_a_sentence_model_with_a_dense_layer_in_safetensors_still_works(tmp_path):
    from moviegenre.features.encoders import SentenceEncoder

    encoder = SentenceEncoder("st:x", tiny_st(tmp_path / "st-dense", dense=True))
    assert encoder.encode_texts(["a movie about love"], progress=False).shape == (1, 8)


def test_a_pickle_beside_clip_safetensors_is_refused_unread(clip_folder, tmp_path):
    from moviegenre.features.encoders import ClipImage

    folder = copy(clip_folder, tmp_path)
    marker = tmp_path / "unpickled"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ConfigError, match=CLIP_REFUSED + r"it holds pytorch_model.bin, a pickle file"):
        ClipImage(str(folder))
    assert not marker.exists()


def test_a_good_sentence_model_folder_still_encodes(st_folder):
    from moviegenre.features.encoders import SentenceEncoder

    assert SentenceEncoder("st:x", st_folder).encode_texts(["ghost night"], progress=False).shape == (1, 32)




# -- 4: a model keeps reading the folder it was trained on ---------------------------------------------------------

def test_a_model_refuses_a_local_encoder_folder_replaced_since_it_was_trained(clip_folder, tmp_path):
    """The run stored the folder's name only: a folder replaced under that name (another CLIP of the same width) gave
    other vectors that the model read without a word. A copy of the same folder (new modification times) still
    works."""
    from moviegenre.data.readers import read_table
    from moviegenre.models.base import load_model
    from moviegenre.training.pipeline import train

    table = make_tiny_table(tmp_path)
    folder = copy(clip_folder, tmp_path, "encoder")
    train(table, "embedding-logreg", tmp_path / "run", min_genre_count=3, progress=False,
          params={"image_encoder": f"clip:{folder}", "fusion": "poster"})
    saved = json.loads((tmp_path / "run" / "model.json").read_text())["state"]["encoder_folders"]
    assert list(saved) == [f"clip:{folder}"] and re.fullmatch(r"[0-9a-f]{16}", saved[f"clip:{folder}"])
    movies = read_table(table)
    expected = load_model(tmp_path / "run").predict_proba(movies)

    shutil.rmtree(folder)
    shutil.copytree(clip_folder, folder, copy_function=shutil.copyfile)  # the same files, new modification times
    np.testing.assert_allclose(load_model(tmp_path / "run").predict_proba(movies), expected, atol=1e-5)

    shutil.rmtree(folder)
    tiny_clip(folder, seed=1)
    with pytest.raises(ConfigError, match=r"^clip:.*/encoder: the folder holds other files than the encoder this "
                                          r"model was trained with \(fingerprint [0-9a-f]{16}, trained with "):
        load_model(tmp_path / "run").predict_proba(movies)
