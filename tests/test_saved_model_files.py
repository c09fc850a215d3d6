"""A saved model's files are input like any other: a model.json whose sizes, term blocks or encoder do not fit its
weights is one line naming the files, never a traceback, and never makes the loader allocate the sizes it claims."""

from __future__ import annotations

import json
import os
import resource
import shutil

import numpy as np
import pytest

from conftest import run_moviegenre
from moviegenre.errors import ConfigError
from moviegenre.models import create_model, load_model
from moviegenre.models.base import DEFAULT_MODEL_DIR, MAX_MODEL_JSON_BYTES, MODEL_JSON, MODEL_WEIGHTS
from moviegenre.training.config import TrainConfig


@pytest.fixture(scope="module")
def saved(session_tiny_labelled, tmp_path_factory):
    """Folders of models trained briefly on the tiny table, by name, and the table."""
    table, labels, genres = session_tiny_labelled
    root = tmp_path_factory.mktemp("saved-models")
    folders = {}
    for name in ("tfidf-nb-logreg", "embedding-logreg", "seed-text-cnn-lstm"):
        model = create_model(name)
        if "config" in model.get_params():
            model.set_params(config=TrainConfig(max_epochs=1, batch_size=16, progress=False))
        folders[name] = model.fit(table, labels, genres=genres).save(root / name)
    folders["fusion-gmu"] = DEFAULT_MODEL_DIR
    return folders, table


def _damaged_copy(folder, tmp_path, change):
    copy = shutil.copytree(folder, tmp_path / "model")
    meta = json.loads((copy / MODEL_JSON).read_text())
    change(meta)
    (copy / MODEL_JSON).write_text(json.dumps(meta))
    return copy


def _set(*path_and_value):
    *path, value = path_and_value

    def change(meta):
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


DAMAGE = [
    ("tfidf-nb-logreg", _set("state", "blocks", []), "word model's term blocks [] do not fit its"),
    ("fusion-gmu", _set("state", "words", "blocks", [5]), "word model's term blocks [5] do not fit its"),
    ("embedding-logreg", _set("state", "dims", "poster", 10**12),
     ("'dims' is {'poster': 1000000000000, 'description': 384}, expected a whole number in [1, 65536] for each "
      "of poster, description")),
    ("embedding-logreg", _set("state", "dims", {"poster": 7, "description": 3}),
     "weights of other shapes than 12 features"),
    ("seed-text-cnn-lstm", _set("state", "length", 10**12), "sequence length 1000000000000, expected 4 to 100000"),
    ("seed-text-cnn-lstm", _set("state", "shape", "vocabulary_size", 0), "an embedding of 0 rows for"),
    # Sizes far beyond the weights: the networks are sized on PyTorch's meta device, so they fail on the shapes
    # (some GB apiece if they were allocated; a hidden size above 65,536 is refused with the parameters).
    ("fusion-gmu", _set("params", "hidden", 65_536), "Error(s) in loading state_dict for FusionNet"),
    ("fusion-gmu", _set("params", "hidden", 10**7), "parameter 'hidden' is 10000000, expected a whole number in"),
    ("fusion-gmu", _set("state", "n_genres", 10**9), "description_shift_ is for 21 genres, not 1000000000"),
    ("seed-text-cnn-lstm", _set("state", "shape", "dim", 10**8), "Error(s) in loading state_dict for SeedTextNet"),
]


@pytest.mark.parametrize(("name", "change", "message"), DAMAGE)
def test_a_model_json_that_does_not_fit_its_weights_is_one_line(saved, tmp_path, name, change, message):
    folders, table = saved
    copy = _damaged_copy(folders[name], tmp_path, change)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ConfigError) as caught:
        load_model(copy).predict_proba(table)
    named = copy / MODEL_JSON if "parameter" in message else copy  # a parameter's range is checked with the others
    assert str(caught.value).startswith(f"{named}: damaged model files (")
    assert message in str(caught.value) and len(str(caught.value).splitlines()) == 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 512 * 1024  # kB: nothing of its size


def _poison(arrays):
    """(key, array) changes of the packaged model's weights, each of a kind the fuzzer found."""
    return {
        "nan-bias": ("member0.head.4.bias", np.full_like(arrays["member0.head.4.bias"], np.nan)),
        "infinite-scale": ("words.coef_.int8_scale", np.full_like(arrays["words.coef_.int8_scale"], np.inf)),
        "nan-idf": ("title_words.idf_", np.full_like(arrays["title_words.idf_"], np.nan)),
        "nan-shift": ("description_shift_", np.full_like(arrays["description_shift_"], np.nan)),
        "integer-std": ("member0.description_std", arrays["member0.description_std"].astype(np.int32)),
    }


@pytest.mark.parametrize(("damage", "message"), [
    ("nan-bias", "array 'member0.head.4.bias' holds NaN or infinite values"),
    ("infinite-scale", "array 'words.coef_' holds NaN or infinite values"),
    ("nan-idf", "array 'title_words.idf_' holds NaN or infinite values"),
    ("nan-shift", "array 'description_shift_' holds NaN or infinite values"),
    ("integer-std", "array 'description_std' is torch.int32, expected torch.float32"),
])
def test_weights_that_are_not_finite_or_of_another_type_are_one_line(saved, tmp_path, damage, message):
    """Each predicted NaN probabilities (so no genre, and NaN in the JSON) or was a traceback (idf: scikit-learn's
    "Input contains NaN")."""
    from safetensors.numpy import load_file, save_file

    copy = shutil.copytree(DEFAULT_MODEL_DIR, tmp_path / "model")
    arrays = load_file(copy / MODEL_WEIGHTS)
    key, array = _poison(arrays)[damage]
    save_file({**arrays, key: array}, copy / MODEL_WEIGHTS)
    with pytest.raises(ConfigError) as caught:
        load_model(copy).predict_proba(saved[1])
    named = copy if damage == "integer-std" else copy / MODEL_WEIGHTS  # a type is the networks', values the file's
    assert str(caught.value) == f"{named}: damaged model files ({message}); retrain or restore the run"


def test_weights_that_are_a_pipe_are_one_line_not_a_wait(tmp_path):
    copy = shutil.copytree(DEFAULT_MODEL_DIR, tmp_path / "model")
    (copy / MODEL_WEIGHTS).unlink()
    os.mkfifo(copy / MODEL_WEIGHTS)
    with pytest.raises(ConfigError) as caught:
        load_model(copy)
    assert str(caught.value) == (f"{copy / MODEL_WEIGHTS}: damaged model files (not a regular file); retrain or "
                                 "restore the run")


def test_a_model_json_over_its_size_limit_is_refused_unread(tmp_path):
    copy = shutil.copytree(DEFAULT_MODEL_DIR, tmp_path / "model")
    with open(copy / MODEL_JSON, "r+b") as handle:
        handle.truncate(MAX_MODEL_JSON_BYTES + 1)  # sparse: no disk, and it must not be read
    with pytest.raises(ConfigError) as caught:
        load_model(copy)
    assert str(caught.value) == (f"{copy / MODEL_JSON}: damaged model files (over the {MAX_MODEL_JSON_BYTES:,} byte "
                                 "limit); retrain or restore the run")


@pytest.mark.parametrize("command", ["predict", "serve"])
def test_a_model_naming_another_encoder_than_it_was_trained_with_is_one_line(tmp_path, monkeypatch, capsys, command):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: pytest.fail("the damaged model was served"))
    copy = _damaged_copy(DEFAULT_MODEL_DIR, tmp_path, _set("params", "text_encoder", "minilm"))  # 384-d, not 768-d
    args = ("predict", copy, "--description", "A detective hunts a killer.") if command == "predict" else \
        ("serve", copy, "--port", "1")
    code, out, err = run_moviegenre(monkeypatch, capsys, *args)
    assert (code, out) == (2, "")
    assert err == ("error: encoder 'minilm' gives 384-d vectors where the model reads 768-d ones: its model.json "
                   "names another encoder than it was trained with (retrain or restore the run)\n")


@pytest.mark.parametrize(("content", "problem"), [("[1, 2]", "expected a JSON object"),
                                                  ("{\"rows\": ", "not valid JSON")])
def test_serve_reads_run_json_once_at_start_and_a_damaged_one_is_one_line(tmp_path, monkeypatch, capsys, content,
                                                                           problem):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: pytest.fail("the damaged run was served"))
    copy = shutil.copytree(DEFAULT_MODEL_DIR, tmp_path / "model")
    (copy / "run.json").write_text(content)
    code, _, err = run_moviegenre(monkeypatch, capsys, "serve", copy, "--port", "1")
    assert code == 2 and err.startswith(f"error: {copy / 'run.json'}: {problem}") and len(err.splitlines()) == 1


def test_a_sound_model_loads_its_networks_with_their_weights_and_types(saved):
    import torch

    folders, table = saved
    for name in ("seed-text-cnn-lstm", "fusion-gmu"):
        model = load_model(folders[name])
        nets = [model.net_] if name == "seed-text-cnn-lstm" else model.nets_
        for net in nets:
            assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in net.parameters())
            assert not net.training
        assert np.isfinite(model.predict_proba(table)).all()
