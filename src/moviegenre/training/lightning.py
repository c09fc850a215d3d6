"""Training of any genre network through Lightning: the engine that also gives us DDP, AMP and resume.

A network is an ``nn.Module`` whose ``forward(**inputs)`` returns logits; datasets yield
``(inputs: dict[str, Tensor], labels: Tensor)``. Validation micro-F1 (at the best single threshold)
drives early stopping, the LR schedule and checkpoint selection.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from moviegenre.data.readers import read_csv_file
from moviegenre.data.table import atomic_write_text
from moviegenre.errors import DataError, first_line
from moviegenre.evaluation.metrics import best_global_threshold
from moviegenre.training.config import TrainConfig
from moviegenre.training.losses import make_loss
from moviegenre.training.progress import EpochBar

MONITOR = "val_micro_f1"
RESUME_HINT = "delete it, or train again without --resume to start afresh"
# Lightning 2.6 warns about its own use of a torch 2.13 pytree API on every fit; nothing for users to act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
# --resume continues in the run's own folders on purpose, and fit_network keeps the earlier log rows.
warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")
warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
# A network trained without validation rows (a refit for epochs already chosen) has nothing to validate, on purpose.
warnings.filterwarnings("ignore", message=r"You defined a `validation_step` but have no `val_dataloader`")
# Fine-tuning keeps the image encoder's batch norms in eval mode on purpose (see models/finetune.py).
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training")


class GenreTask(L.LightningModule):
    def __init__(self, net: nn.Module, loss: nn.Module, config: TrainConfig, validated: bool = True,
                 shuffler: torch.Generator | None = None) -> None:
        super().__init__()
        self.net, self.loss, self.config, self.validated, self.shuffler = net, loss, config, validated, shuffler
        self._val_probs: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []

    # Where the random draws stood (dropout's, the training rows' shuffle), so a resumed run draws on as the run it
    # continues would have: seeding again would replay the first epoch's draws.
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["random"] = {"torch": torch.get_rng_state(),
                                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
                                "shuffler": self.shuffler.get_state() if self.shuffler is not None else None}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("random")
        if state is None:  # written before the states were kept: the draws start again from the seed
            return
        try:
            torch.set_rng_state(state["torch"])
            if state["cuda"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda"])
            if self.shuffler is not None and state["shuffler"] is not None:
                self.shuffler.set_state(state["shuffler"])
        except (RuntimeError, TypeError, KeyError) as error:  # _fit names the file
            raise ValueError(f"random state: {first_line(error)}") from None

    def training_step(self, batch, batch_idx):
        inputs, labels = batch
        loss = self.loss(self.net(**inputs), labels)
        # Synced: without validation the LR schedule follows it, and every DDP process must decide alike.
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(labels),
                 sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        inputs, labels = batch
        logits = self.net(**inputs)
        self.log("val_loss", self.loss(logits, labels), on_epoch=True, prog_bar=False, batch_size=len(labels),
                 sync_dist=True)
        self._val_probs.append(torch.sigmoid(logits.float()).cpu())
        self._val_labels.append(labels.cpu())

    def on_validation_epoch_end(self) -> None:
        probs, labels = torch.cat(self._val_probs), torch.cat(self._val_labels)
        self._val_probs.clear()
        self._val_labels.clear()
        sampler = getattr(self.trainer.val_dataloaders, "sampler", None)
        if isinstance(sampler, DistributedSampler):  # DDP dealt each process a share: the score is all the rows'
            probs, labels = (_in_row_order(self.all_gather(rows.to(self.device)), len(sampler.dataset))
                             for rows in (probs, labels))
        _, f1 = best_global_threshold(labels.numpy(), probs.numpy())
        self.log(MONITOR, float(f1), prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        # A network may give its parts their own learning rates (fine-tuned encoders learn slower than heads).
        groups = self.net.parameter_groups() if hasattr(self.net, "parameter_groups") else self.parameters()
        optimizer = torch.optim.AdamW(groups, lr=self.config.lr, weight_decay=self.config.weight_decay)
        # Without validation rows the schedule can only follow the training loss.
        monitor, mode = (MONITOR, "max") if self.validated else ("train_loss", "min")
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=self.config.lr_factor, patience=self.config.lr_patience)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": monitor}}


def _in_row_order(shares: torch.Tensor, rows: int) -> torch.Tensor:
    """The rows a DistributedSampler without shuffling dealt out (``shares``: one per process, gathered), in their
    order: process r held rows r, r + world, ...; the last few repeat the first to even the shares out."""
    return shares.transpose(0, 1).reshape(-1, *shares.shape[2:])[:rows].cpu()


def fit_network(net: nn.Module, train: Dataset, validation: Dataset | None, config: TrainConfig, *,
                pos_weight: np.ndarray | None = None, run_dir: str | Path | None = None,
                resume: bool = False, label: str = "training") -> nn.Module:
    """Train ``net`` in place and leave it holding the best validation weights; return it.

    ``label`` names the network on its progress bar (``member 2/3``). With validation rows, the returned net's
    ``best_epochs_`` is the number of epochs that reached its weights.
    """
    L.seed_everything(config.seed, workers=True, verbose=False)
    # Lightning's info lines (accelerators found, advertising tips, why fitting stopped): only when verbose.
    logging.getLogger("lightning.pytorch").setLevel(logging.INFO if config.verbose else logging.WARNING)
    loss = make_loss(config.loss, torch.as_tensor(pos_weight) if pos_weight is not None else None,
                     config.pos_weight_power, config.label_smoothing)
    shuffler = torch.Generator().manual_seed(config.seed)
    task = GenreTask(net, loss, config, validated=validation is not None, shuffler=shuffler)
    task.train()  # Lightning keeps modules in whatever mode they come in; parts of ``net`` may have been fitted
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(run_dir) if run_dir else Path(scratch)
        if not resume:  # a fresh run in an old run's folder: its checkpoints would be taken for this run's
            shutil.rmtree(root / "checkpoints", ignore_errors=True)
        # No version counter: the best weights are always in best.ckpt, so the path never has to be read
        # back from a checkpoint (whose callback state a hostile file could point anywhere).
        best_checkpoint = ModelCheckpoint(dirpath=root / "checkpoints", filename="best",
                                          monitor=MONITOR if validation else None, mode="max",
                                          enable_version_counter=False)
        # Lightning's save_last rewrites last.ckpt only at epochs that improve the monitored score, so a resumed run
        # would repeat the epochs after the best one: the latest epoch gets a checkpoint of its own (no monitor).
        latest_checkpoint = ModelCheckpoint(dirpath=root / "checkpoints", filename="last", enable_version_counter=False)
        callbacks = [best_checkpoint, latest_checkpoint]
        if validation is not None:
            callbacks.append(EarlyStopping(monitor=MONITOR, mode="max", patience=config.patience, min_delta=1e-4))
        if config.progress and not config.verbose:
            callbacks.append(EpochBar(label))
        train_loader = _loader(train, config.batch_size, config, shuffle=True, generator=shuffler)
        val_loader = _loader(validation, 1024, config, shuffle=False) if validation is not None else None
        world = config.devices * config.num_nodes
        multi = world > 1
        batched = getattr(train, "batched", False)
        # Batched sets: every process steps through all global batches; others are dealt out by DDP's sampler.
        steps_per_epoch = len(train_loader) // (1 if batched else world)
        trainer = L.Trainer(
            accelerator=config.device if config.device != "auto" else "auto", devices=config.devices,
            num_nodes=config.num_nodes, strategy=_strategy(net) if multi else "auto", max_epochs=config.max_epochs,
            gradient_clip_val=config.grad_clip, precision=config.precision, callbacks=callbacks,
            logger=CSVLogger(root, name="logs", version="") if run_dir else False,
            enable_progress_bar=config.progress and config.verbose, enable_model_summary=False, deterministic=True,
            num_sanity_val_steps=0, log_every_n_steps=max(1, min(10, steps_per_epoch)),
            # Batched datasets shard themselves (see _RankShare); Lightning's wrapper would deal out whole batches.
            use_distributed_sampler=not batched, plugins=[_SafeCheckpointIO(_shapes(task.state_dict()))])
        last, best = root / "checkpoints" / "last.ckpt", root / "checkpoints" / "best.ckpt"
        # Early stopping ended this network before: resumed, Lightning would train it an epoch more (and perhaps
        # keep that epoch), so a network that finished before a later one was interrupted is taken as it is.
        stopped_early = root / "checkpoints" / "stopped-early"
        if not (resume and stopped_early.exists() and best.exists()):
            resuming = resume and last.exists()
            log = root / "logs" / "metrics.csv"
            aside = _set_log_aside(log, resuming) if run_dir and trainer.is_global_zero else None
            try:
                _fit(trainer, task, train_loader, val_loader, last if resuming else None)
            finally:  # a refused or failed resume leaves the learning curve as it found it
                if aside is not None:
                    _join_log(log, aside)
            if trainer.should_stop and run_dir and trainer.is_global_zero:
                stopped_early.touch()
        if validation is not None and best.exists():
            checkpoint = load_checkpoint(best, _shapes(task.state_dict()))
            net.load_state_dict({k.removeprefix("net."): v for k, v in checkpoint["state_dict"].items()
                                 if k.startswith("net.")})
            epoch = checkpoint.get("epoch")  # Lightning counts from 0; a damaged file's value is not trusted
            net.best_epochs_ = min(max(epoch + 1, 1), config.max_epochs) if isinstance(epoch, int) \
                else config.max_epochs
        trainer.strategy.barrier()  # DDP: rank 0 must not delete its scratch checkpoints before the others read them
    return net.cpu().eval()


def _fit(trainer: L.Trainer, task: GenreTask, train_loader: DataLoader, val_loader: DataLoader | None,
         checkpoint: Path | None) -> None:
    """``trainer.fit``, resuming from ``checkpoint``: one that loads (see :func:`load_checkpoint`) but whose training
    state Lightning cannot restore (keys missing, optimizer or loop state of another shape) is one line too."""
    restored = _Started()
    trainer.callbacks.append(restored)
    try:
        trainer.fit(task, train_loader, val_loader, ckpt_path=str(checkpoint) if checkpoint else None)
    except MisconfigurationException as error:  # e.g. --max-epochs below the epoch the checkpoint reached
        if checkpoint is None or restored.started:
            raise
        raise DataError(checkpoint, f"cannot resume from it ({first_line(error)})",
                        hint="resume with the options it was trained with (a --max-epochs above its epoch), or train "
                             "afresh without --resume") from None
    except (KeyError, ValueError, TypeError, AttributeError, IndexError) as error:
        if checkpoint is None or restored.started:  # a failure of the training itself: not the file's
            raise
        raise DataError(checkpoint, f"unusable checkpoint ({type(error).__name__}: {first_line(error)})",
                        hint=RESUME_HINT) from None


class _Started(L.Callback):
    """Notes that training began: a checkpoint's state was all restored by then."""

    started = False

    def on_train_start(self, trainer, pl_module) -> None:
        self.started = True


def _set_log_aside(log: Path, resuming: bool) -> Path | None:
    """Lightning's CSV logger deletes ``metrics.csv`` as it starts. A resumed run first moves the learning curve of
    the epochs already trained to ``metrics.earlier.csv`` (with the rows of an earlier resume that was killed before
    it could join them), where it stays until this run ends: a resume refused, failed or killed loses none of it.
    A fresh run drops what an earlier run set aside. The file set aside, or None."""
    aside = log.with_name("metrics.earlier.csv")
    if not resuming:
        aside.unlink(missing_ok=True)
        return None
    if log.exists() and aside.exists():
        _append_log(aside, log)
    elif log.exists():
        _read_log(log)  # a damaged log is one line now, not after the training
        os.replace(log, aside)
    return aside if aside.exists() else None


def _join_log(log: Path, aside: Path) -> None:
    """``metrics.csv`` as one learning curve again: the rows set aside, then this run's; where this run logged
    nothing (its resume was refused), the file set aside goes back as it was."""
    if log.exists() and log.stat().st_size:
        _append_log(aside, log)
    os.replace(aside, log)


def _append_log(curve: Path, later: Path) -> None:
    """``later``'s rows after ``curve``'s, in ``curve``, with its line endings (Lightning's logger writes CRLF: a
    resumed run's log must not differ from an uninterrupted one's on every line); ``later`` removed."""
    with curve.open("rb") as handle:
        ending = "\r\n" if b"\r\n" in handle.readline() else "\n"
    joined = pd.concat([_read_log(curve), _read_log(later)], ignore_index=True)
    atomic_write_text(curve, joined.to_csv(index=False, lineterminator=ending))
    later.unlink()


def _read_log(path: Path) -> pd.DataFrame:
    return read_csv_file(path, "unreadable training log",
                         "delete it to resume without the earlier epochs' learning curve")


def load_checkpoint(path: str | Path, shapes: dict[str, tuple[int, ...]] | None = None) -> dict:
    """A Lightning checkpoint of ours, read without unpickling anything but tensors and plain containers.

    Our checkpoints only hold tensors, numbers, strings, lists and (ordered) dicts, all of which torch's
    ``weights_only`` reader allows as they are: nothing more is allow-listed. A damaged file, one holding any
    other type, or one whose weights differ from ``shapes`` (another model or settings) is one line.
    """
    if not Path(path).is_file():  # a pipe or device would make the reading wait for ever
        raise DataError(path, "unreadable checkpoint (not a regular file: a pipe, socket, device or folder)",
                        hint=RESUME_HINT)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - whatever parsing a hostile file raises, the answer is the same
        reason = first_line(error)
        if "Weights only load failed" in reason:  # torch's own advice (turning that check off) is the unsafe one
            reason = "it holds objects other than tensors and plain values, refused as they could run code"
        raise DataError(path, f"unreadable checkpoint ({reason})", hint=RESUME_HINT) from None
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(path, "not a training checkpoint (no state_dict of tensors)", hint=RESUME_HINT)
    if shapes is not None and _shapes(state) != shapes:
        raise DataError(path, "written for another model or other settings than this run's", hint=RESUME_HINT)
    return checkpoint


def _shapes(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in state.items()}


class _SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint reader for ``--resume``, replaced by :func:`load_checkpoint`."""

    def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
        super().__init__()
        self.shapes = shapes

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        return load_checkpoint(path, self.shapes)


def is_main_process() -> bool:
    """False in the extra processes of a DDP run, which must leave writing the run to rank 0."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _loader(dataset: Dataset, batch_size: int, config: TrainConfig, *, shuffle: bool,
            generator: torch.Generator | None = None) -> DataLoader:
    """A loader for per-item datasets, or for ``batched`` ones that take a list of positions at once.

    Under DDP a batched training set is split inside each batch (``batch_size`` is the global batch), while
    every process scores all validation rows; a per-item set's rows are dealt out by Lightning's sampler, and
    ``GenreTask`` gathers their scores. Either way the validation F1 is the whole set's, as on one device.
    """
    generator = generator or torch.Generator().manual_seed(config.seed)
    if getattr(dataset, "batched", False):
        order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        batches = BatchSampler(order, batch_size, drop_last=False)
        return DataLoader(dataset, batch_size=None, sampler=_RankShare(batches) if shuffle else batches,
                          num_workers=config.num_workers)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=config.num_workers, collate_fn=getattr(dataset, "collate", None),
                      persistent_workers=config.num_workers > 0)


def _strategy(net: nn.Module) -> str:
    # A network that skips an encoder when a batch lacks its input leaves parameters without gradients on
    # that step; DDP must then look for them, or it waits forever for their all-reduce.
    return "ddp_find_unused_parameters_true" if getattr(net, "skips_absent_inputs", False) else "ddp"


class _RankShare(Sampler[list[int]]):
    """Each DDP process takes rows ``rank::world`` of every global batch.

    Every process draws the same permutation (same seeded generator), so N processes step through the same
    batches as one process, and DDP's averaged gradient is the one-process gradient (exactly so when the
    batch divides evenly). The rank is read when iterating: Lightning starts the processes after the
    loaders are built.
    """

    def __init__(self, batches: BatchSampler) -> None:
        self.batches = batches

    @staticmethod
    def _rank_world() -> tuple[int, int]:
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def __iter__(self):
        rank, world = self._rank_world()
        for batch in self.batches:
            if len(batch) >= world:  # a tail smaller than the world would leave a process with no rows
                yield batch[rank::world]

    def __len__(self) -> int:
        _, world = self._rank_world()
        full, tail = divmod(len(self.batches.sampler), self.batches.batch_size)
        return full + (tail >= world if tail else 0)
