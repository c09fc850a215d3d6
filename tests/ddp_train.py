"""Train a tiny FusionNet on synthetic features through ``fit_network``; run by tests/test_distributed.py.

    python tests/ddp_train.py DEVICES OUT.npz [--one-by-one]

Lightning's DDP launcher re-runs this script once per extra process; rank 0 writes the trained weights and
the validation probabilities to OUT.npz. With ``--one-by-one`` the rows come one at a time, as the seed networks'
and fine-tuning's do, so Lightning deals each process a share of the validation rows, and the network does not
learn (a learning rate of 1e-12): OUT.npz holds the validation micro-F1 the run logged and the whole set's.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch.utils.data import Dataset

from moviegenre.evaluation.metrics import best_global_threshold
from moviegenre.models.fusion_net import FeatureDataset, FusionNet
from moviegenre.training.config import TrainConfig
from moviegenre.training.lightning import MONITOR, fit_network


class OneByOne(Dataset):
    def __init__(self, rows: FeatureDataset) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        return self.rows[index]


def features(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {"poster": rng.normal(size=(n, 12)).astype(np.float32), "has_poster": np.ones(n, np.float32),
            "description": rng.normal(size=(n, 8)).astype(np.float32), "has_description": np.ones(n, np.float32)}


def main(devices: int, out: str, one_by_one: bool = False) -> None:
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(20, 4))
    train, val = features(rng, 64), features(rng, 37 if one_by_one else 32)  # 37: two shares need a repeated row

    def labels(rows: dict[str, np.ndarray]) -> np.ndarray:  # a learnable rule: signs of a linear map
        return (np.hstack([rows["poster"], rows["description"]]) @ weights > 0).astype(np.float32)

    torch.manual_seed(0)
    # No dropout: its random masks are drawn per process, so they differ between 1 and 2 processes.
    net = FusionNet(12, 8, 4, fusion="gmu", hidden=16, dropout=0.0, modality_dropout=0.0)
    net.set_input_stats(train["poster"], train["description"])
    val_inputs = {k: torch.as_tensor(v) for k, v in val.items()}
    with torch.inference_mode():
        untrained = torch.sigmoid(net.eval()(**val_inputs)).numpy()
    net.train()
    if one_by_one:
        config = TrainConfig(max_epochs=1, batch_size=16, lr=1e-12, loss="bce", progress=False, device="cpu",
                             devices=devices)
        run = f"{out}.run"
        fit_network(net, OneByOne(FeatureDataset(train, labels(train))), OneByOne(FeatureDataset(val, labels(val))),
                    config, run_dir=run)
        if not dist.is_initialized() or dist.get_rank() == 0:
            logged = pd.read_csv(f"{run}/logs/metrics.csv")[MONITOR].dropna().iloc[0]
            np.savez(out, logged=logged, whole=best_global_threshold(labels(val), untrained)[1])
        return
    config = TrainConfig(max_epochs=4, batch_size=16, lr=1e-2, loss="bce", progress=False, device="cpu",
                         devices=devices)
    net = fit_network(net, FeatureDataset(train, labels(train)), FeatureDataset(val, labels(val)), config)
    if not dist.is_initialized() or dist.get_rank() == 0:
        with torch.inference_mode():
            probs = torch.sigmoid(net(**val_inputs)).numpy()
        np.savez(out, probs=probs, untrained=untrained, **{f"w.{k}": v.numpy() for k, v in net.state_dict().items()})


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], one_by_one="--one-by-one" in sys.argv[3:])
