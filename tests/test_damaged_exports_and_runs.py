"""Damaged ONNX exports, damaged resume state, bad --param values and an interrupted save each give one line
interrupted save each give one line (or a plainly incomplete run), never a traceback or a mixed run."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from conftest import run_moviegenre
from moviegenre.errors import ConfigError, DataError

ONE_LINE_HINT = ": it is exported again when next needed)"


pytestmark = pytest.mark.usefixtures("own_cache")


# -- the fast path: an export folder as the cache holds it, damaged ----------------------------------------------

def never():
    raise AssertionError("the encoder was built (an export was attempted)")


def _image_graph(width: int = 3, size: int = 8):
    """pixels (batch, 3, size, size) -> embedding (batch, width): a tiny network of the exported layout."""
    from onnx import TensorProto, helper

    weights = helper.make_tensor("weights", TensorProto.FLOAT, [3, width], [1.0] * 3 * width)
    nodes = [helper.make_node("GlobalAveragePool", ["pixels"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("MatMul", ["flat", "weights"], ["embedding"])]
    graph = helper.make_graph(nodes, "image",
                              [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 3, size, size])],
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", width])],
                              initializer=[weights])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _text_graph():
    """input_ids, attention_mask (batch, length) -> tokens (batch, length, 1): the ids as one float per token."""
    from onnx import TensorProto, helper

    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [2])
    nodes = [helper.make_node("Cast", ["input_ids"], ["ids"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["ids", "axes"], ["tokens"])]
    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "length"])
              for name in ("input_ids", "attention_mask")]
    graph = helper.make_graph(nodes, "text", inputs,
                              [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["batch", "length", 1])],
                              initializer=[axes])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _export(kind: str):
    """(name, dim, folder) of a small, valid export written where the cache keeps it."""
    import onnx
    from tokenizers import Tokenizer, models, pre_tokenizers

    from moviegenre.features import fast

    name, dim = ("review-image", 3) if kind == "image" else ("review-text", 1)
    folder = fast._export_folder(name)
    folder.mkdir(parents=True)
    if kind == "image":
        onnx.save(_image_graph(), folder / "model.onnx")
        settings = {"kind": "image", "image_size": 8, "pixel_mean": 127.0, "pixel_std": [128.0, 128, 128]}
    else:
        onnx.save(_text_graph(), folder / "model.onnx")
        tokenizer = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1, "a": 2, "b": 3}, unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        tokenizer.save(str(folder / "tokenizer.json"))
        settings = {"kind": "text", "inputs": ["input_ids", "attention_mask"], "max_length": 16, "normalize": False,
                    "pad_id": 0, "pad_token": "[PAD]"}
    (folder / "encoder.json").write_text(json.dumps({"name": name, "dim": dim, **settings}))
    return name, dim, folder


@pytest.fixture
def fast(monkeypatch):
    pytest.importorskip("onnxruntime", reason="the fast path needs onnxruntime")
    pytest.importorskip("onnx", reason="the test networks are written with onnx")
    from moviegenre.features import fast

    monkeypatch.setattr(fast, "_loaded", {})  # nothing loaded by an earlier test
    return fast


def test_a_valid_small_export_loads_and_encodes(fast):
    name, dim, _ = _export("text")
    vectors = fast.fast_encoder(fast.EncoderRef(name, dim, never)).encode_texts(["a b a", "b", ""], progress=False)
    np.testing.assert_allclose(vectors[:, 0], [(2 + 3 + 2) / 3, 3, 0])
    name, dim, _ = _export("image")
    assert fast.fast_encoder(fast.EncoderRef(name, dim, never)).encode_pixels(np.ones((2, 3, 8, 8))).shape == (2, 3)


def test_a_sound_export_is_not_blamed_for_a_model_that_reads_another_width(fast):
    """The width a model's reference gives is the model's: the export loads, and the vectors' width is checked
    against the model's where they meet (features/cache.py: one line naming the model's files)."""
    name, dim, _ = _export("text")
    assert fast.fast_encoder(fast.EncoderRef(name, dim + 1, never)).dim == dim
    assert name in fast._loaded


def _set(field, value):
    def damage(folder):
        settings = json.loads((folder / "encoder.json").read_text())
        settings[field] = value
        (folder / "encoder.json").write_text(json.dumps(settings))
    return damage


def _write(file, data: bytes):
    return lambda folder: (folder / file).write_bytes(data)


def _folder_for(file):
    def damage(folder):
        (folder / file).unlink()
        (folder / file).mkdir()
    return damage


IMAGE_DAMAGE = {
    "json-truncated": ("encoder.json", _write("encoder.json", b'{"name": "rev')),
    "json-not-utf8": ("encoder.json", _write("encoder.json", b'{"name": "\xff"}')),
    "json-a-list": ("encoder.json", _write("encoder.json", b"[1, 2]")),
    "json-huge": ("encoder.json", _write("encoder.json", b" " * 100_000 + b"{}")),
    "json-a-folder": ("encoder.json", _folder_for("encoder.json")),
    "json-missing": ("encoder.json", lambda folder: (folder / "encoder.json").unlink()),
    "kind-unknown": ("encoder.json", _set("kind", "audio")),
    "dim-a-string": ("encoder.json", _set("dim", "3")),
    "dim-another": ("model.onnx", _set("dim", 4)),  # checked against the graph's width, which the error names too
    "name-another": ("encoder.json", _set("name", "efficientnet-lite0")),
    "size-negative": ("encoder.json", _set("image_size", -8)),
    "size-huge": ("encoder.json", _set("image_size", 10 ** 30)),
    "size-not-the-graph's": ("model.onnx", _set("image_size", 9)),
    "std-zero": ("encoder.json", _set("pixel_std", 0)),
    "mean-two-channels": ("encoder.json", _set("pixel_mean", [1, 2])),
    "model-garbage": ("model.onnx", _write("model.onnx", b"\x00garbage" * 100)),
    "model-empty": ("model.onnx", _write("model.onnx", b"")),
    "model-missing": ("model.onnx", lambda folder: (folder / "model.onnx").unlink()),
    "model-a-folder": ("model.onnx", _folder_for("model.onnx")),
    "model-of-another-width": ("model.onnx", _write("model.onnx", _image_graph(width=5).SerializeToString())),
}
TEXT_DAMAGE = {
    "tokenizer-garbage": ("tokenizer.json", _write("tokenizer.json", b"{not json")),
    "tokenizer-huge": ("tokenizer.json", lambda folder: os.truncate(folder / "tokenizer.json", 65 * 2**20)),
    "tokenizer-missing": ("tokenizer.json", lambda folder: (folder / "tokenizer.json").unlink()),
    "inputs-without-mask": ("encoder.json", _set("inputs", ["input_ids"])),
    "inputs-unknown": ("encoder.json", _set("inputs", ["input_ids", "attention_mask", "pixel_values"])),
    "inputs-unhashable": ("encoder.json", _set("inputs", ["attention_mask", ["input_ids"]])),
    "inputs-not-the-graph's": ("model.onnx", _set("inputs", ["input_ids", "attention_mask", "token_type_ids"])),
    "max-length-a-float": ("encoder.json", _set("max_length", 16.5)),
    "normalize-a-string": ("encoder.json", _set("normalize", "yes")),
    "pad-id-negative": ("encoder.json", _set("pad_id", -1)),
    "pad-token-missing": ("encoder.json", _set("pad_token", None)),
}


@pytest.mark.parametrize("kind, damage", [("image", d) for d in IMAGE_DAMAGE] + [("text", d) for d in TEXT_DAMAGE])
def test_a_damaged_onnx_export_is_one_line_naming_the_file(fast, kind, damage):
    name, dim, folder = _export(kind)
    file, apply = (IMAGE_DAMAGE | TEXT_DAMAGE)[damage]
    apply(folder)
    with pytest.raises(DataError) as caught:
        fast.fast_encoder(fast.EncoderRef(name, dim, never))
    message = str(caught.value)
    assert message.startswith(f"{folder / file}: damaged ONNX export (")
    assert message.endswith(f"(delete {folder}{ONE_LINE_HINT}") and len(message.splitlines()) == 1, message
    assert name not in fast._loaded


def test_a_file_where_the_export_folder_belongs_is_one_line_not_a_new_export(fast):
    folder = fast._export_folder("review-image")
    folder.parent.mkdir(parents=True)
    folder.write_text("not a folder")
    with pytest.raises(DataError, match=r"damaged ONNX export \(not a regular file\)"):
        fast.fast_encoder(fast.EncoderRef("review-image", 3, never))


# -- resuming a fit: a checkpoint torch loads but Lightning cannot restore; a damaged learning curve -------------

class _Rows(Dataset):
    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(32, 4, generator=generator), (torch.rand(32, 3, generator=generator) > 0.5).float()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index):
        return {"x": self.x[index]}, self.y[index]


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 3)

    def forward(self, x):
        return self.layer(x)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A run folder of a tiny network trained for 2 epochs, with its checkpoints and learning curve."""
    from moviegenre.training.config import TrainConfig
    from moviegenre.training.lightning import fit_network

    run = tmp_path_factory.mktemp("fitted") / "run"
    fit_network(_Net(), _Rows(), _Rows(), TrainConfig(max_epochs=2, progress=False, loss="bce"), run_dir=run)
    return run


def _resume(run):
    from moviegenre.training.config import TrainConfig
    from moviegenre.training.lightning import fit_network

    return fit_network(_Net(), _Rows(), _Rows(), TrainConfig(max_epochs=3, progress=False, loss="bce"), run_dir=run,
                       resume=True)


def _only_weights(checkpoint):
    return {"state_dict": checkpoint["state_dict"]}


def _without_optimizer(checkpoint):
    return {k: v for k, v in checkpoint.items() if k != "optimizer_states"}


def _loops_a_number(checkpoint):
    return {**checkpoint, "loops": {"fit_loop": 3}}


def _optimizer_of_another_shape(checkpoint):
    return {**checkpoint, "optimizer_states": [{"state": {}, "param_groups": []}]}


@pytest.mark.parametrize("damage", [_only_weights, _without_optimizer, _loops_a_number, _optimizer_of_another_shape])
def test_a_checkpoint_lightning_cannot_restore_is_one_line_naming_it(fitted, tmp_path, damage):
    run = shutil.copytree(fitted, tmp_path / "run")
    last = run / "checkpoints" / "last.ckpt"
    torch.save(damage(torch.load(last, weights_only=True)), last)
    with pytest.raises(DataError) as caught:
        _resume(run)
    message = str(caught.value)
    assert message.startswith(f"{last}: unusable checkpoint (") and len(message.splitlines()) == 1, message
    assert message.endswith("(delete it, or train again without --resume to start afresh)")


def test_a_checkpoint_that_is_a_pipe_is_one_line_not_a_wait(fitted, tmp_path):
    run = shutil.copytree(fitted, tmp_path / "run")
    last = run / "checkpoints" / "last.ckpt"
    last.unlink()
    os.mkfifo(last)
    with pytest.raises(DataError) as caught:
        _resume(run)
    assert str(caught.value) == (f"{last}: unreadable checkpoint (not a regular file: a pipe, socket, device or "
                                 "folder) (delete it, or train again without --resume to start afresh)")


@pytest.mark.parametrize("damage", [b"", b"epoch,step\n1,2\n3,4,5,6\n", b"\xff\xfe\x00garbage", "folder", "pipe"])
def test_a_damaged_learning_curve_is_one_line_before_resuming(fitted, tmp_path, damage):
    run = shutil.copytree(fitted, tmp_path / "run")
    log = run / "logs" / "metrics.csv"
    if damage in ("folder", "pipe"):
        log.unlink()
        log.mkdir() if damage == "folder" else os.mkfifo(log)
    else:
        log.write_bytes(damage)
    with pytest.raises(DataError) as caught:
        _resume(run)
    message = str(caught.value)
    assert message.startswith(f"{log}: unreadable training log (") and len(message.splitlines()) == 1, message
    assert message.endswith("(delete it to resume without the earlier epochs' learning curve)")


def test_resuming_a_sound_run_keeps_one_learning_curve(fitted, tmp_path):
    import pandas as pd

    run = shutil.copytree(fitted, tmp_path / "run")
    _resume(run)
    curve = run / "logs" / "metrics.csv"
    assert sorted(pd.read_csv(curve)["epoch"].dropna().unique()) == [0, 1, 2]
    # As Lightning writes it (CRLF): the resumed log differed from an uninterrupted one's on every line.
    assert (fitted / "logs" / "metrics.csv").read_bytes().count(b"\r\n") > 1
    assert curve.read_bytes().count(b"\r\n") == len(curve.read_bytes().splitlines())


# -- train: --param values and an interrupted save ---------------------------------------------------------------

TRAIN = ("--model", "fusion-gmu", "--min-genre-count", "3", "--max-epochs", "1", "--no-progress")


@pytest.mark.parametrize("param, expected", [
    ("config=5", "--param: parameter 'config' is 5, expected an object of training settings (model 'fusion-gmu')"),
    ("config=[1]", "--param: parameter 'config' is [1], expected an object of training settings"),
    ('config={"bogus": 1}', "--param: parameter 'config' has no field 'bogus' (has: batch_size, device, "),
    ('config={"lr": "x"}', "--param: config: parameter 'lr' is 'x', expected float (model 'fusion-gmu')"),
    ('config={"max_epochs": 1.5}', "--param: config: parameter 'max_epochs' is 1.5, expected int"),
    ("=3", "--param '=3': expected KEY=VALUE"),
    (" =3", "--param ' =3': expected KEY=VALUE"),
])
def test_a_bad_param_is_one_line_before_training(tiny_table_csv, tmp_path, monkeypatch, capsys, param, expected):
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", tiny_table_csv, "--out", tmp_path / "run", *TRAIN,
                                  "--param", param)
    assert code == 2 and err.startswith(f"error: {expected}") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("params, expected", [
    (("ensemble=1",), "parameter 'cross_fit' needs 'ensemble' 2 or more (one fold a member), not 1"),
])
def test_parameters_that_cannot_go_together_are_one_line_before_training(tiny_table_csv, tmp_path, monkeypatch,
                                                                         capsys, params, expected):
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", tiny_table_csv, "--out", tmp_path / "run", *TRAIN,
                                  "--param", "cross_fit=true", *(arg for p in params for arg in ("--param", p)))
    expected = f"error: --param: {expected}"
    assert code == 2 and err.startswith(expected) and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_a_param_key_is_read_without_the_spaces_around_it(tiny_table_csv, tmp_path, monkeypatch, capsys):
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", tiny_table_csv, "--out", tmp_path / "run",
                                  "--model", "tfidf-logreg", "--min-genre-count", "3", "--no-progress",
                                  "--param", "C = 2.0")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "model.json").read_text())["params"]["C"] == 2.0


def test_an_interrupted_save_never_leaves_the_new_model_beside_the_earlier_run(tiny_table_csv, tmp_path,
                                                                              monkeypatch):
    from moviegenre.models.base import load_model
    from moviegenre.training import pipeline

    out = tmp_path / "run"
    pipeline.train(tiny_table_csv, "tfidf-logreg", out, min_genre_count=3, seed=0)
    earlier_split = (out / "split.csv").read_text()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "save_genre_split", killed)  # killed once the new model is written
    with pytest.raises(KeyboardInterrupt):
        pipeline.train(tiny_table_csv, "tfidf-logreg", out, min_genre_count=3, seed=1)
    assert not (out / "run.json").exists()  # the earlier run's summary does not describe the new model ...
    assert not (out / "split.csv").exists()  # ... nor its split, whose test rows the new model may have learnt
    assert earlier_split  # (the earlier run had both)
    assert load_model(out).name == "tfidf-logreg"


def test_a_save_interrupted_between_its_files_leaves_no_model_under_the_earlier_name(session_tiny_labelled, tmp_path,
                                                                                    monkeypatch):
    from moviegenre.models import base, create_model
    from moviegenre.models.base import load_model

    table, labels, genres = session_tiny_labelled
    create_model("tfidf-logreg").fit(table, labels, genres=genres).save(tmp_path / "model")
    later = create_model("tfidf-logreg", C=2.0).fit(table, labels, genres=genres)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(base, "atomic_write_text", killed)  # killed once the new weights are written
    with pytest.raises(KeyboardInterrupt):
        later.save(tmp_path / "model")
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="not a model folder"):
        load_model(tmp_path / "model")
