"""How a neural genre model is trained: one typed config with commented defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import ClassVar

from moviegenre.data.splits import MAX_SEED
from moviegenre.errors import ConfigError
from moviegenre.params import BATCH, EPOCHS, NON_NEGATIVE, POSITIVE, Interval, Options, Range

DEVICES = ("cpu", "cuda", "auto")
PROCESSES = Interval(1, 1024, whole=True)  # devices a node: one process each
# The fields train and audit set from options of their own (--seed, --device, ...): a model's config naming one the
# run set would be overridden unseen.
RUN_FIELDS = ("seed", "device", "devices", "num_nodes", "max_epochs", "progress", "verbose")
LOSSES = ("weighted-bce", "bce", "weighted-focal", "asl")  # training/losses.py
# Lightning's (without Transformer Engine's); "32" keeps fine-tuning in float32 where it would pick bf16 (README).
PRECISIONS = ("32-true", "32", "bf16-mixed", "bf16", "16-mixed", "16", "bf16-true", "16-true", "64-true", "64")


@dataclass
class TrainConfig:
    max_epochs: int = 60           # upper bound; early stopping usually ends sooner
    batch_size: int = 256
    lr: float = 1e-3               # AdamW learning rate
    weight_decay: float = 1e-2     # AdamW decoupled weight decay
    patience: int = 8              # epochs without validation micro-F1 gain before stopping
    lr_patience: int = 3           # ReduceLROnPlateau: epochs without gain before the LR drops
    lr_factor: float = 0.3         # ReduceLROnPlateau: LR multiplier on a plateau
    grad_clip: float = 1.0         # gradient-norm clipping
    # "weighted-bce": BCE with pos_weight = (n_neg/n_pos) ** pos_weight_power, so rare genres are found
    # more often (higher macro-F1); "weighted-focal" (the same weights, focal gamma 2), "bce" (plain) or "asl"
    # (asymmetric loss) are the alternatives.
    loss: str = "weighted-bce"
    pos_weight_power: float = 0.25  # 1 = the full class ratio (swamps the gradient), 0 = plain BCE
    label_smoothing: float = 0.0   # targets pulled this far toward 0.5: IMDb's genre lists miss genres movies have
    seed: int = 0
    device: str = "cpu"            # "cpu", "cuda" or "auto"
    devices: int = 1               # devices per node; >1 uses Lightning's DDP strategy
    num_nodes: int = 1
    precision: str = "32-true"     # fine-tuning makes it "bf16-mixed" on a GPU or a CPU with AMX
    num_workers: int = 0           # DataLoader workers (0: load in the main process)
    progress: bool = True          # a progress bar per network trained
    verbose: bool = False          # Lightning's own messages and bars too

    # Outside these a value fails deep inside a fit (AdamW, ReduceLROnPlateau's factor below 1, the DataLoader,
    # Lightning's seeding), means nothing (a zero learning rate; a negative patience, clip norm or weight power) or
    # starts a process per unit (devices, loader workers: a typo would start thousands).
    param_ranges: ClassVar[dict[str, Range]] = {
        "max_epochs": EPOCHS, "batch_size": BATCH, "lr": POSITIVE, "weight_decay": NON_NEGATIVE,
        "patience": NON_NEGATIVE, "lr_patience": NON_NEGATIVE,
        "lr_factor": Interval(0, 1, low_open=True, high_open=True), "grad_clip": NON_NEGATIVE,
        "pos_weight_power": NON_NEGATIVE, "label_smoothing": Interval(0, 0.5), "seed": Interval(0, MAX_SEED),
        "devices": PROCESSES,
        "num_nodes": Interval(1, 100_000, whole=True), "num_workers": Interval(0, 1024, whole=True),
        "loss": Options(LOSSES), "device": Options(DEVICES), "precision": Options(PRECISIONS)}

    @classmethod
    def of(cls, config: TrainConfig | dict | None) -> TrainConfig:
        """A model's ``config`` parameter as a TrainConfig: itself, the fields of a dict (as model.json stores
        them), or the defaults."""
        return config if isinstance(config, cls) else cls(**(config or {}))


def check_options(options: dict) -> None:
    """Training options (TrainConfig fields) a run could not honour, as one line, before any data is read: Lightning
    would only refuse them deep inside the first fit, and a misspelt one would be ignored."""
    known = [f.name for f in fields(TrainConfig) if f.name != "seed"]  # the seed is train()'s own argument
    for name in options:
        if name not in known:
            raise ConfigError(f"unknown training option '{name}' (known: {', '.join(known)}; a model's own "
                              "parameters go in params)")
    device = options.get("device", "cpu")
    if device not in DEVICES:
        raise ConfigError(f"--device {device}: unknown device (use {', '.join(DEVICES)})")
    for name, value in options.items():
        if name in TrainConfig.param_ranges and value not in TrainConfig.param_ranges[name]:
            raise ConfigError(f"--{name.replace('_', '-')} {value}: give {TrainConfig.param_ranges[name]}")
    if device == "cuda":
        import torch  # only for a run that asked for a GPU

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: this machine has no CUDA GPU (use --device cpu, or auto)")


def configure(estimator, seed: int, options: dict) -> None:
    """Set a network model's training configuration (and any model's ``progress``): its own (a registered model may preset fields, e.g.
    ``pos_weight_power``), overridden by ``options`` (TrainConfig fields; others are ignored) and ``seed``. A config
    given as fields (``--param config=...``) that names one of the ``RUN_FIELDS`` the run set, or asks a seed
    reproduction for another value than its design fixes, is a ConfigError."""
    if "config" in estimator.get_params():
        known = {f.name for f in fields(TrainConfig)}
        chosen = {**{k: v for k, v in options.items() if k in known}, "seed": seed}
        # A TrainConfig object holds every field, the run's too: only fields given by name were asked for.
        given = estimator.config if isinstance(estimator.config, dict) else {}
        clash = next((name for name in given if name in chosen and name in RUN_FIELDS), None)
        if clash is not None:
            raise ConfigError(f"config: '{clash}' would be ignored, the run sets it (use --{clash.replace('_', '-')} "
                              "instead)")
        # A seed reproduction's design overrides its config (models/seed_cnn.py); a saved run's config may differ
        # from it, so this is a training-time check, not a loading one.
        design = getattr(estimator, "design", {})
        fixed = next((name for name in given if name in design and given[name] != design[name]), None)
        if fixed is not None:
            raise ConfigError(f"config: '{fixed}' is fixed by the original design this model reproduces "
                              f"({fixed}={design[fixed]!r}); train another model to choose it")
        estimator.set_params(config=replace(estimator.train_config(), **chosen))
    # A model without networks shows bars too (embedding its inputs): it follows the same option.
    estimator.progress = options.get("progress", True)
