"""A resumed training trains on as the run it continues would have: the same shuffles and dropout draws, and no
epoch more for a network that early stopping had already ended."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ddp_train import OneByOne  # rows one at a time, as the seed networks' and fine-tuning's sets give them
from moviegenre.models.fusion_net import FeatureDataset, FusionNet
from moviegenre.training.config import TrainConfig
from moviegenre.training.lightning import MONITOR, fit_network


def rows(seed: int, n: int) -> FeatureDataset:
    rng = np.random.default_rng(seed)
    poster, description = rng.normal(size=(n, 12)).astype(np.float32), rng.normal(size=(n, 8)).astype(np.float32)
    labels = (np.hstack([poster, description]) @ rng.normal(size=(20, 4)) + rng.normal(size=(n, 4)) > 1)
    return FeatureDataset({"poster": poster, "has_poster": np.ones(n, np.float32), "description": description,
                           "has_description": np.ones(n, np.float32)}, labels.astype(np.float32))


def fit(run, max_epochs: int, *, one_by_one: bool = False, resume: bool = False, patience: int = 50):
    torch.manual_seed(0)
    net = FusionNet(12, 8, 4, fusion="gmu", hidden=16, dropout=0.3, modality_dropout=0.3)  # draws every step
    train, validation = rows(0, 96), rows(1, 40)
    if one_by_one:
        train, validation = OneByOne(train), OneByOne(validation)
    config = TrainConfig(max_epochs=max_epochs, batch_size=16, lr=3e-3, loss="bce", progress=False, patience=patience)
    return fit_network(net, train, validation, config, run_dir=run, resume=resume)


def last_weights(run) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.parametrize("one_by_one", [False, True], ids=["batched", "one-by-one"])
def test_a_run_resumed_halfway_ends_as_the_uninterrupted_run(tmp_path, one_by_one: bool):
    fit(tmp_path / "whole", 6, one_by_one=one_by_one)
    fit(tmp_path / "halves", 3, one_by_one=one_by_one)
    fit(tmp_path / "halves", 6, one_by_one=one_by_one, resume=True)
    whole, halves = last_weights(tmp_path / "whole"), last_weights(tmp_path / "halves")
    assert whole.keys() == halves.keys()
    for name in whole:
        torch.testing.assert_close(halves[name], whole[name], rtol=0, atol=1e-6, msg=name)


def test_a_network_early_stopping_ended_is_not_trained_on_when_resumed(tmp_path):
    run = tmp_path / "run"
    first = fit(run, 60, patience=1)
    curve = pd.read_csv(run / "logs" / "metrics.csv")[MONITOR].dropna()
    assert len(curve) < 60  # it did stop early
    again = fit(run, 60, patience=1, resume=True)
    assert again.best_epochs_ == first.best_epochs_
    assert pd.read_csv(run / "logs" / "metrics.csv")[MONITOR].dropna().tolist() == curve.tolist()
    for name, value in first.state_dict().items():
        torch.testing.assert_close(again.state_dict()[name], value, rtol=0, atol=0, msg=name)


def test_a_checkpoints_random_state_that_torch_refuses_is_one_line(tmp_path):
    from moviegenre.errors import DataError

    run = tmp_path / "run"
    fit(run, 2)
    last = run / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    checkpoint["random"]["torch"] = torch.zeros(3, dtype=torch.uint8)
    torch.save(checkpoint, last)
    with pytest.raises(DataError, match=r"last.ckpt: unusable checkpoint \(ValueError: random state: "):
        fit(run, 4, resume=True)
