"""Bad and hostile input (issue 12): each defect's reproduction, which must give one line or work."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from conftest import run_moviegenre
from moviegenre.models.base import DEFAULT_MODEL_DIR

TRAIN = ("--model", "fusion-gmu", "--min-genre-count", "3", "--param", "ensemble=1", "--no-progress")


class _Payload:
    """Unpickling this creates a file: proof that a loader ran code from the file it read."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture(scope="module")
def trained_run(session_tiny_table_csv, tmp_path_factory):
    """A run trained for 2 epochs, with its checkpoints (copied per test before changing it)."""
    from moviegenre.training.pipeline import train

    run = tmp_path_factory.mktemp("hardening") / "run"
    train(session_tiny_table_csv, "fusion-gmu", run, min_genre_count=3, max_epochs=2, progress=False,
          params={"ensemble": 1})
    return run


@pytest.fixture
def run_copy(trained_run, tmp_path):
    return shutil.copytree(trained_run, tmp_path / "run")


def test_resume_never_follows_a_path_read_from_the_checkpoint(run_copy, session_tiny_table_csv, tmp_path,
                                                               monkeypatch, capsys):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": _Payload(marker)}, evil)  # a checkpoint-shaped file whose loading runs code
    last = run_copy / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)  # a valid checkpoint: it loads under weights_only=True
    for state in checkpoint["callbacks"].values():
        if "best_model_path" in state:
            state["dirpath"] = str(last.parent)  # as the run's own, so that Lightning takes every path in
            state["best_model_path"] = state["kth_best_model_path"] = str(evil)
            state["best_k_models"] = {str(evil): state["best_model_score"]}
    torch.save(checkpoint, last)
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", run_copy,
                                  "--max-epochs", "2", "--resume", *TRAIN)
    assert not marker.exists()
    assert code == 0, err
    assert evil.exists()  # nor deleted as an "older best" outside the run's checkpoint folder


def test_a_checkpoint_holding_objects_is_refused_in_one_line(run_copy, session_tiny_table_csv, tmp_path,
                                                             monkeypatch, capsys):
    marker = tmp_path / "code-ran"
    last = run_copy / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    checkpoint["extra"] = _Payload(marker)
    torch.save(checkpoint, last)
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", run_copy,
                                  "--max-epochs", "3", "--resume", *TRAIN)
    assert not marker.exists()
    assert code == 2
    assert err.startswith(f"error: {last}: unreadable checkpoint (it holds objects other than tensors")
    assert len(err.strip().splitlines()) == 1 and "weights_only=False" not in err


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "list", "other-model"])
def test_a_damaged_last_checkpoint_is_one_line_naming_it(run_copy, session_tiny_table_csv, damage,
                                                         monkeypatch, capsys):
    last = run_copy / "checkpoints" / "last.ckpt"
    data = last.read_bytes()
    if damage == "truncated":
        last.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        last.write_bytes(b"")
    elif damage == "garbage":
        last.write_bytes(b"\x00garbage" * 1000)
    elif damage == "list":
        torch.save([1, 2, 3], last)
    else:
        checkpoint = torch.load(last, weights_only=True)
        checkpoint["state_dict"] = {k: torch.zeros(3) for k in checkpoint["state_dict"]}
        torch.save(checkpoint, last)
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", run_copy,
                                  "--max-epochs", "3", "--resume", *TRAIN)
    assert code == 2
    assert err.startswith(f"error: {last}: ")
    assert err.rstrip().endswith("(delete it, or train again without --resume to start afresh)")
    assert len(err.strip().splitlines()) == 1


def _damage_model(folder, damage):
    weights, meta_file = folder / "model.safetensors", folder / "model.json"
    meta = json.loads(meta_file.read_text())
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "empty":
        weights.write_bytes(b"")
    elif damage == "garbage":
        weights.write_bytes(b"\xff" * 5000)
    elif damage == "json-list":
        meta_file.write_text("[1, 2]")
    elif damage == "hidden-abc":
        meta_file.write_text(json.dumps({**meta, "params": {**meta["params"], "hidden": "abc"}}))
    elif damage == "genres-not-list":
        meta_file.write_text(json.dumps({**meta, "genres": "Drama"}))
    elif damage == "state-of-other-shape":
        meta_file.write_text(json.dumps({**meta, "state": {**meta["state"], "dims": {"poster": 7, "description": 3}}}))
    return weights if damage in ("truncated", "empty", "garbage") else \
        folder if damage == "state-of-other-shape" else meta_file


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "json-list", "hidden-abc", "genres-not-list",
                                    "state-of-other-shape"])
@pytest.mark.parametrize("command", ["predict", "evaluate", "serve"])
def test_broken_model_files_are_one_line_naming_the_file(damage, command, session_tiny_table_csv, tmp_path,
                                                         monkeypatch, capsys):
    import uvicorn

    def serve_forever(*args, **kwargs):
        raise AssertionError("the broken model was served")

    monkeypatch.setattr(uvicorn, "run", serve_forever)
    folder = shutil.copytree(DEFAULT_MODEL_DIR, tmp_path / "model")
    named = _damage_model(folder, damage)
    args = {"predict": ("predict", folder, "--description", "a love story"),
            "evaluate": ("evaluate", folder, session_tiny_table_csv),
            "serve": ("serve", folder, "--port", "1")}[command]
    code, _, err = run_moviegenre(monkeypatch, capsys, *args)
    assert code == 2
    assert err.startswith(f"error: {named}: damaged model files (")
    assert err.rstrip().endswith("; retrain or restore the run") and len(err.strip().splitlines()) == 1
