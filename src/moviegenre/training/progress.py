"""What a normal training run shows: one bar per network trained (``member 2/3``), in epochs, with the latest
loss and validation score. Lightning's own bars and messages are for ``--verbose``."""

from __future__ import annotations

import lightning as L
from tqdm.auto import tqdm

# Epochs advance by fractions of one as batches finish, so a long epoch (fine-tuning) still moves the bar.
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| epoch {n:.0f}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
SHOWN = {"train_loss": "loss", "val_micro_f1": "val F1"}


class EpochBar(L.Callback):
    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: tqdm | None = None

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.bar = tqdm(total=trainer.max_epochs, initial=trainer.current_epoch, desc=self.label,
                        bar_format=BAR_FORMAT, disable=not trainer.is_global_zero, dynamic_ncols=True)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, index: int) -> None:
        batches = trainer.num_training_batches
        if batches and batches != float("inf"):
            self.bar.update(1 / batches)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.bar.n = trainer.current_epoch + 1  # whole epochs, whatever the fractions added up to
        metrics = trainer.callback_metrics
        self.bar.set_postfix({name: f"{float(metrics[key]):.3f}" for key, name in SHOWN.items() if key in metrics})

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.bar.close()
