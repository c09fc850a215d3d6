"""``seed-poster-cnn``: the original "Judge a Movie by Its Cover" poster CNN, reproduced layer for layer.

The original (Keras) read 224x224x3 posters scaled by 1/255 through four blocks of
Conv 3x3 ('valid' padding; 16/32/64/128 filters; ReLU) -> BatchNorm -> MaxPool 2x2 -> Dropout 0.25, then
Flatten -> Dense 128 -> BN -> Dropout 0.4 -> Dense 256 -> BN -> Dropout 0.3 -> Dense(n_genres, sigmoid).
Its summary for 20 genres reads 2,496,276 trainable parameters + 1,248 BatchNorm statistics = 2,497,524.
That count pins the spatial arithmetic: 224 -conv-> 222 -pool-> 111 -> 109 -> 54 -> 52 -> 26 -> 24 -> 12, i.e.
every pool halves (Keras' MaxPooling2D strides default to the pool size, so the first block's pool, written
without strides, halves too) and 12 * 12 * 128 = 18,432 features reach the first dense layer.

:class:`SeedNetworkModel` is shared with ``seed-text-cnn-lstm``: the original's training design fixed over a
run :class:`TrainConfig`, the network saved as arrays, and training genre rates for movies without the input.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from moviegenre.data.genres import class_weights
from moviegenre.data.images import load_image
from moviegenre.data.table import MovieTable
from moviegenre.models.base import GenreModel, load_network
from moviegenre.models.registry import register_model
from moviegenre.training.config import TrainConfig

IMAGE_SIZE = 224
BATCH_SIZE = 100  # the original streamed posters from disk in batches of 100
# Keras BatchNormalization defaults (PyTorch's momentum is Keras' 1 - momentum).
BN = {"eps": 1e-3, "momentum": 0.01}


class SeedNetworkModel(GenreModel):
    """A seed reproduction: a network trained by ``fit_network`` under the original's training design.

    ``design`` holds the :class:`TrainConfig` fields the original fixed (batch size, optimiser, schedule,
    loss); they override ``config``, which keeps the run's own choices (max_epochs, device, seed, ...).
    """

    design: ClassVar[dict] = {}

    def __init__(self, config: TrainConfig | dict | None = None):
        self.config = config

    def train_config(self) -> TrainConfig:
        return replace(TrainConfig.of(self.config), **self.design)

    def new_net(self, n_genres: int, **shape) -> nn.Module:
        raise NotImplementedError

    def seeded_net(self, n_genres: int, **shape) -> nn.Module:
        """A fresh network initialised from the run's seed: ``fit_network`` seeds only the training that follows,
        so without this a run's result would depend on what used the random generator before it."""
        torch.manual_seed(self.train_config().seed)
        return self.new_net(n_genres, **shape)

    def net_shape(self) -> dict:
        """What ``new_net`` needs beyond ``n_genres`` to rebuild the fitted network."""
        return {}

    def predict_present(self, movies: MovieTable) -> np.ndarray:
        """Probabilities for rows that all hold the input."""
        raise NotImplementedError

    def fit(self, movies, labels, **kwargs) -> SeedNetworkModel:
        self.prior_ = np.asarray(labels, dtype=np.float32).mean(0)  # what a movie without the input is given
        return super().fit(movies, labels, **kwargs)

    def predict_proba(self, movies: MovieTable) -> np.ndarray:
        # Without its input the model knows only how common each genre was in training.
        out = np.tile(self.prior_, (len(movies), 1)).astype(np.float32)
        rows = self.readable(movies)
        if rows.any():
            out[rows] = self.predict_present(movies.subset(rows))
        return out

    def _get_state(self):
        arrays = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        return {"n_genres": len(self.genres_), "shape": self.net_shape()}, {"prior_": self.prior_, **arrays}

    def _set_state(self, state, arrays):
        self.prior_ = arrays.pop("prior_")
        self.net_ = load_network(lambda: self.new_net(state["n_genres"], **state["shape"]),
                                 {k.removeprefix("net."): v for k, v in arrays.items()})

    @torch.inference_mode()
    def predict_batches(self, dataset: Dataset) -> np.ndarray:
        loader = DataLoader(dataset, batch_size=BATCH_SIZE, num_workers=self.train_config().num_workers)
        self.net_.eval()
        return np.concatenate([torch.sigmoid(self.net_(**inputs)).numpy() for inputs, _ in loader])


class PosterDataset(Dataset):
    """Posters decoded from disk per item: a catalogue's posters do not fit in memory (the original's did not)."""

    def __init__(self, paths: list[str], labels: np.ndarray | None = None) -> None:
        self.paths = paths
        self.labels = torch.as_tensor(labels if labels is not None else np.zeros((len(paths), 0), np.float32))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        image = load_image(self.paths[index], size=IMAGE_SIZE, policy="stretch")
        # uint8 channels-first: a quarter of float32's size in the loader; the network scales by 1/255.
        return {"image": torch.from_numpy(np.array(image)).permute(2, 0, 1)}, self.labels[index]


def _conv_block(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3), nn.ReLU(), nn.BatchNorm2d(out_channels, **BN),
            nn.MaxPool2d(2), nn.Dropout(0.25)]


class SeedPosterNet(nn.Module):
    def __init__(self, n_genres: int) -> None:
        super().__init__()
        channels = (3, 16, 32, 64, 128)
        blocks = [layer for c_in, c_out in pairwise(channels) for layer in _conv_block(c_in, c_out)]
        side = IMAGE_SIZE
        for _ in range(4):
            side = (side - 2) // 2  # 3x3 'valid' conv, then a halving pool
        self.features = nn.Sequential(*blocks, nn.Flatten())
        self.head = nn.Sequential(
            nn.Linear(side * side * channels[-1], 128), nn.ReLU(), nn.BatchNorm1d(128, **BN), nn.Dropout(0.4),
            nn.Linear(128, 256), nn.ReLU(), nn.BatchNorm1d(256, **BN), nn.Dropout(0.3),
            nn.Linear(256, n_genres))
        # Keras initialisation: Glorot-uniform kernels and zero biases, He-uniform on the first convolution.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.kaiming_uniform_(self.features[0].weight, nonlinearity="relu")

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # Channels-last makes these convolutions ~30% faster on a CPU; the result is the same.
        x = (image.float() / 255).contiguous(memory_format=torch.channels_last)
        if self.training:
            return self.head(self.features(x))
        # fit_network validates 1,024 posters at a time: ~3 GB of first-block activations on the CPU.
        return torch.cat([self.head(self.features(chunk)) for chunk in x.split(BATCH_SIZE)])


class SeedPosterCNN(SeedNetworkModel):
    """The original poster CNN, trained from scratch on 224x224 posters streamed from disk."""

    inputs = ("poster",)
    # Adam 1e-3 (no weight decay), ReduceLROnPlateau x0.1 after 3 epochs, early stopping after 20 (min_delta
    # 1e-4, as fit_network uses), gradient clipping, class weights (see _fit), batches of 100.
    design: ClassVar[dict] = {"batch_size": BATCH_SIZE, "lr": 1e-3, "weight_decay": 0.0, "lr_factor": 0.1,
                              "lr_patience": 3, "patience": 20, "grad_clip": 1.0, "loss": "weighted-bce",
                              "pos_weight_power": 1.0}

    def new_net(self, n_genres: int, **shape) -> nn.Module:
        return SeedPosterNet(n_genres)

    def _fit(self, movies, labels, validation, *, run_dir, resume) -> None:
        from moviegenre.training.lightning import fit_network  # Lightning: only when training

        rows = self.readable(movies)
        train = PosterDataset(list(np.asarray(movies.posters)[rows]), labels[rows])
        val = None
        if validation is not None and self.readable(validation[0]).any():
            val_rows = self.readable(validation[0])
            val = PosterDataset(list(np.asarray(validation[0].posters)[val_rows]), validation[1][val_rows])
        # The original's class weights W_i = n_max / n_i, on each genre's positives (pos_weight_power 1).
        self.net_ = fit_network(self.seeded_net(labels.shape[1]), train, val, self.train_config(),
                                pos_weight=class_weights(labels[rows].sum(0)), run_dir=run_dir, resume=resume)

    def predict_present(self, movies: MovieTable) -> np.ndarray:
        return self.predict_batches(PosterDataset(movies.posters))


register_model("seed-poster-cnn")(lambda **params: SeedPosterCNN(**params))
