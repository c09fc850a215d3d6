"""The network the embedding MLPs train (and fine-tuning puts on its encoders): :class:`FusionNet`, and its rows.

Each present modality is standardised and projected; the projections are fused by concatenation or by a gated
multimodal unit (Arevalo et al. 2017: tanh branches mixed by a sigmoid gate; our gate reads the two projections
rather than the raw inputs (4,608 dimensions in ``fusion-gmu``), which costs a third of the compute for the same validation score), and
a small MLP maps the fused vector to one logit per genre. A missing modality is masked out, so a fusion network
accepts a poster, a description, or both; training drops one modality of a complete movie at random (modality
dropout) so that the single-input cases are learned from complete movies too.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from moviegenre.errors import ConfigError

FUSIONS = ("gmu", "concat", "poster", "description")
NET_INPUTS = ("poster", "has_poster", "description", "has_description")  # FusionNet.forward's arguments


class FusionNet(nn.Module):
    def __init__(self, poster_dim: int, description_dim: int, n_genres: int, fusion: str = "gmu",
                 hidden: int = 256, dropout: float = 0.3, modality_dropout: float = 0.3) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion '{fusion}' (known: {', '.join(FUSIONS)})")
        self.fusion, self.modality_dropout = fusion, modality_dropout
        self.use_poster = fusion != "description"
        self.use_description = fusion != "poster"
        # Standardisation statistics, set from the training rows by ``set_input_stats``.
        for name, dim in (("poster", poster_dim), ("description", description_dim)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_std", torch.ones(dim))
        activation = nn.Tanh() if fusion == "gmu" else nn.GELU()  # GMU: tanh branches, as in the paper
        self.poster_proj = nn.Sequential(nn.Dropout(dropout / 2), nn.Linear(poster_dim, hidden), activation) \
            if self.use_poster else None
        self.description_proj = nn.Sequential(nn.Dropout(dropout / 2), nn.Linear(description_dim, hidden),
                                              activation) if self.use_description else None
        self.gate = nn.Linear(2 * hidden, hidden) if fusion == "gmu" else None
        fused = 2 * hidden + 2 if fusion == "concat" else hidden
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(fused, hidden), nn.GELU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, n_genres))

    def set_input_stats(self, poster: np.ndarray, description: np.ndarray) -> None:
        for name, rows in (("poster", poster), ("description", description)):
            if len(rows):
                getattr(self, f"{name}_mean").copy_(torch.as_tensor(rows.mean(0)))
                getattr(self, f"{name}_std").copy_(torch.as_tensor(rows.std(0) + 1e-6))

    def forward(self, poster: torch.Tensor, has_poster: torch.Tensor, description: torch.Tensor,
                has_description: torch.Tensor) -> torch.Tensor:
        has_poster = has_poster.float().unsqueeze(1) * self.use_poster
        has_description = has_description.float().unsqueeze(1) * self.use_description
        if self.training and self.modality_dropout > 0 and self.fusion in ("gmu", "concat"):
            both = has_poster * has_description
            draw = torch.rand_like(both)
            drop_poster = both * (draw < self.modality_dropout / 2).float()
            drop_description = both * ((draw >= self.modality_dropout / 2) & (draw < self.modality_dropout)).float()
            has_poster, has_description = has_poster - drop_poster, has_description - drop_description
        x_poster = (poster - self.poster_mean) / self.poster_std * has_poster
        x_description = (description - self.description_mean) / self.description_std * has_description
        if self.fusion == "poster":
            fused = self.poster_proj(x_poster)
        elif self.fusion == "description":
            fused = self.description_proj(x_description)
        elif self.fusion == "concat":
            fused = torch.cat([self.poster_proj(x_poster) * has_poster,
                               self.description_proj(x_description) * has_description,
                               has_poster, has_description], dim=1)
        else:
            h_poster, h_description = self.poster_proj(x_poster), self.description_proj(x_description)
            z = torch.sigmoid(self.gate(torch.cat([h_poster, h_description], dim=1)))
            # A missing modality must get no weight: force the gate to the one that is there.
            z = z * has_poster * has_description + has_poster * (1 - has_description)
            fused = z * h_poster + (1 - z) * h_description
        return self.head(fused)


class FeatureDataset(Dataset):
    """Rows of precomputed features (dict of equal-length arrays) with optional labels.

    Indexed by a whole batch of positions at once (``batched``), so an epoch costs a few tensor
    gathers instead of a Python call and a collate per movie.
    """

    batched = True

    def __init__(self, features: dict[str, np.ndarray], labels: np.ndarray | None = None) -> None:
        self.features = {k: torch.as_tensor(v) for k, v in features.items()}
        n = len(next(iter(self.features.values())))
        self.labels = torch.as_tensor(labels if labels is not None else np.zeros((n, 0), dtype=np.float32))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int | list[int]):
        return {k: v[index] for k, v in self.features.items()}, self.labels[index]
