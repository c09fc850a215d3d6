"""Multi-label losses. ``make_loss`` is the one way to get one by name."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from moviegenre.errors import ConfigError
from moviegenre.training.config import LOSSES


class AsymmetricLoss(nn.Module):
    """Ridnik et al. 2021: focus on hard negatives, shift easy negatives' probability down by ``clip``."""

    def __init__(self, gamma_neg: float = 4.0, gamma_pos: float = 0.0, clip: float = 0.05) -> None:
        super().__init__()
        self.gamma_neg, self.gamma_pos, self.clip = gamma_neg, gamma_pos, clip

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits)
        p_neg = (p - self.clip).clamp(min=0)
        loss_pos = targets * torch.log(p.clamp(min=1e-8)) * (1 - p) ** self.gamma_pos
        loss_neg = (1 - targets) * torch.log((1 - p_neg).clamp(min=1e-8)) * p_neg ** self.gamma_neg
        return -(loss_pos + loss_neg).sum(dim=1).mean()


class WeightedBCE(nn.Module):
    """BCE whose positives weigh ``pos_weight`` (one per genre); with ``gamma`` > 0, the focal loss (Lin et al.
    2017): each term scaled by (1 - p_true) ** gamma, so well-classified movies stop dominating the gradient."""

    def __init__(self, pos_weight: torch.Tensor, gamma: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("pos_weight", pos_weight)
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if not self.gamma:
            return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=self.pos_weight)
        terms = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=self.pos_weight, reduction="none")
        p = torch.sigmoid(logits)
        p_true = targets * p + (1 - targets) * (1 - p)  # a smoothed target's too: 0.05 is a negative, not a positive
        return (terms * (1 - p_true) ** self.gamma).mean()


class SmoothedTargets(nn.Module):
    """``loss`` on targets pulled ``smoothing`` toward 0.5 (label smoothing, Szegedy et al. 2016): a genre a movie's
    list leaves out, as IMDb's lists often do, costs less, so the network stops driving every unlisted genre to 0."""

    def __init__(self, loss: nn.Module, smoothing: float) -> None:
        super().__init__()
        self.loss, self.smoothing = loss, smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss(logits, targets * (1 - self.smoothing) + self.smoothing / 2)


def make_loss(name: str, pos_weight: torch.Tensor | None, power: float, smoothing: float = 0.0) -> nn.Module:
    """The loss ``name``; the weighted ones weigh each genre's positives ``pos_weight ** power``; with
    ``smoothing``, on smoothed targets."""
    loss = _named_loss(name, pos_weight, power)
    return SmoothedTargets(loss, smoothing) if smoothing else loss


def _named_loss(name: str, pos_weight: torch.Tensor | None, power: float) -> nn.Module:
    if name == "bce":
        return nn.BCEWithLogitsLoss()
    if name in ("weighted-bce", "weighted-focal") and pos_weight is None:
        raise ConfigError(f"loss '{name}' needs class weights (train on labelled rows, or use loss 'bce')")
    if name == "weighted-bce":
        # The full n_neg/n_pos ratio (up to ~100 for rare genres) swamps the gradient; a power below 1
        # keeps the rare genres' recall up without flooding every movie with them.
        return WeightedBCE(pos_weight ** power)
    if name == "weighted-focal":
        return WeightedBCE(pos_weight ** power, gamma=2.0)
    if name == "asl":
        return AsymmetricLoss()
    raise ConfigError(f"unknown loss '{name}' (known: {', '.join(LOSSES)})")
