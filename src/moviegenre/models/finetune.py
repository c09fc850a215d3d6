"""End-to-end fine-tuning of the pretrained encoders inside a fusion model (``train --finetune``).

Two stages, as in LP-FT (Kumar et al. 2022): the head is first trained on frozen, cached embeddings of the
encoders it will fine-tune (EfficientNet-Lite0 and MiniLM by default, one member), as an ``EmbeddingMLP`` head
is, so that the first fine-tuning steps follow a sensible head instead of wrecking the pretrained features;
then the image encoder, the text encoder and the head are trained together on decoded posters and tokenised
descriptions, the encoders at a far lower learning rate. It runs under bf16 autocast on a GPU and on a CPU with
AMX units (which multiply bf16 matrices in hardware), in float32 on other CPUs; a CPU is slow either way and meant
for tests and small tables.

A fine-tuned encoder is an ordinary ``ImageEncoder`` / ``SentenceEncoder`` holding the new weights under a
new name (``efficientnet-lite0+ft-<run id>``), so the feature cache, the ONNX fast path, the web service and
the explanations work on it unchanged.
"""

from __future__ import annotations

import copy
import os
import uuid
from dataclasses import replace
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from moviegenre.data.genres import pos_weight
from moviegenre.data.images import load_poster
from moviegenre.data.table import MovieTable
from moviegenre.features.encoders import ImageEncoder, SentenceEncoder, resolve_device
from moviegenre.models.embedding import EmbeddingMLP
from moviegenre.models.fusion_net import FusionNet
from moviegenre.models.registry import FINETUNED_SUFFIX, TUNABLE, register_model
from moviegenre.params import BATCH, EPOCHS, POSITIVE, Interval
from moviegenre.training.config import TrainConfig


def autocast_bf16(device: str) -> bool:
    """Whether fine-tuning on ``device`` runs under bf16 autocast: on a GPU, and on a CPU with AMX tiles, where
    training steps ran 1.3-1.5x as fast as in float32 (``benchmarks/finetune_speed.py``). Without AMX bf16 gained
    nothing (AVX512-BF16) or ran 8x slower (AVX2), measured with oneDNN held to those instruction sets."""
    if device == "cuda":
        return True
    return device == "cpu" and getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()


class EndToEndNet(nn.Module):
    """Pixels and tokens -> encoders -> the fusion head's logits; encoders run only on rows that have the input."""

    #: tells the trainer that DDP must tolerate parameters without gradients (see ``lightning._strategy``)
    skips_absent_inputs = True

    def __init__(self, head: FusionNet, poster: ImageEncoder | None, description: SentenceEncoder | None,
                 encoder_lr: float) -> None:
        super().__init__()
        self.head, self.encoder_lr = head, encoder_lr
        self.poster_encoder, self.description_encoder = poster, description
        # Registered here so that Lightning moves, trains and checkpoints them with the head.
        self.poster = poster.model if poster is not None else None
        self.description = description.model if description is not None else None
        self.poster_dim, self.description_dim = head.poster_mean.numel(), head.description_mean.numel()

    def parameter_groups(self) -> list[dict]:
        encoders = [p for module in (self.poster, self.description) if module is not None for p in module.parameters()]
        return [{"params": encoders, "lr": self.encoder_lr}, {"params": list(self.head.parameters())}]

    def train(self, mode: bool = True) -> EndToEndNet:
        # Batch norms keep their ImageNet statistics: a batch of movies holds few, and varying, posters.
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self

    def forward(self, pixels: torch.Tensor, has_poster: torch.Tensor, has_description: torch.Tensor,
                **tokens: torch.Tensor) -> torch.Tensor:
        n = len(has_poster)
        poster = has_poster.new_zeros(n, self.poster_dim)
        rows = has_poster > 0
        if self.poster is not None and rows.any():
            poster[rows] = self.poster_encoder.pooled(pixels[rows]).float()
        description = has_description.new_zeros(n, self.description_dim)
        rows = has_description > 0
        if self.description is not None and rows.any():
            description[rows] = self.description({k: v[rows] for k, v in tokens.items()})["sentence_embedding"].float()
        return self.head(poster, has_poster, description, has_description)


class RawInputs(Dataset):
    """A table's posters (decoded by the safe loader) and descriptions (tokenised per batch), with labels."""

    def __init__(self, movies: MovieTable, labels: np.ndarray, poster: ImageEncoder | None,
                 description: SentenceEncoder | None, max_tokens: int, augment: bool = False) -> None:
        self.movies, self.labels = movies, torch.as_tensor(labels, dtype=torch.float32)
        self.poster, self.description, self.max_tokens, self.augment = poster, description, max_tokens, augment

    def __len__(self) -> int:
        return len(self.movies)

    def __getitem__(self, index: int):
        path = self.movies.posters[index] if self.poster is not None else ""
        pixels = self.poster.to_tensor(load_poster(path)) if path else None
        if pixels is not None and self.augment and torch.rand(()) < 0.5:
            pixels = pixels.flip(-1)  # a mirrored poster sends the same genre message
        text = self.movies.descriptions[index] if self.description is not None else ""
        return pixels, text, self.labels[index]

    def collate(self, items: list) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        pixels, texts, labels = zip(*items)
        size = self.poster.image_size if self.poster is not None else 1
        blank = torch.zeros(3, size, size)
        inputs = {"pixels": torch.stack([p if p is not None else blank for p in pixels]),
                  "has_poster": torch.tensor([p is not None for p in pixels], dtype=torch.float32),
                  "has_description": torch.tensor([bool(t) for t in texts], dtype=torch.float32)}
        if self.description is not None:
            tokens = self.description.model.tokenizer(list(texts), padding=True, truncation=True,
                                                      max_length=self.max_tokens, return_tensors="pt")
            inputs.update(tokens)
        return inputs, torch.stack(labels)


MAX_TOKENS = Interval(1, 512, whole=True)  # the text encoders' position embeddings: a longer text has no positions


class FinetunedFusion(EmbeddingMLP):
    """A fusion (or single-input) head trained with its encoders, end to end. One network, no ensemble."""

    param_ranges: ClassVar[dict[str, Interval]] = {"epochs": EPOCHS, "batch_size": BATCH, "encoder_lr": POSITIVE,
                                                   "head_lr": POSITIVE, "max_tokens": MAX_TOKENS}

    def __init__(self, fusion: str = "gmu", image_encoder: str = "efficientnet-lite0", text_encoder: str = "minilm",
                 hidden: int = 256, dropout: float = 0.3, modality_dropout: float = 0.3, tfidf_weight: float = 0.3,
                 tfidf_terms: int | None = 10_000, epochs: int = 4, batch_size: int = 32, encoder_lr: float = 3e-5, head_lr: float = 3e-4,
                 max_tokens: int = 128, config: TrainConfig | dict | None = None):
        super().__init__(fusion, image_encoder, text_encoder, hidden=hidden, dropout=dropout,
                         modality_dropout=modality_dropout, ensemble=1, tfidf_weight=tfidf_weight,
                         tfidf_terms=tfidf_terms, config=config)
        self.epochs = epochs            # end-to-end epochs after the head stage (capped by config.max_epochs)
        self.batch_size = batch_size    # movies per end-to-end step (the head stage uses config.batch_size)
        self.encoder_lr = encoder_lr    # AdamW learning rate of the encoders
        self.head_lr = head_lr          # ... and of the head, already trained in the first stage
        self.max_tokens = max_tokens    # descriptions are cut to this many tokens (the frozen path keeps 256)

    def _fit(self, movies, labels, validation, *, run_dir, resume) -> None:
        from moviegenre.training.lightning import fit_network  # Lightning: only when training

        super()._fit(movies, labels, validation, run_dir=run_dir, resume=resume)  # stage 1: head on frozen vectors
        config = self.train_config()
        poster, description = self.trainable_encoders(config.device)
        net = EndToEndNet(self.nets_[0], poster, description, self.encoder_lr)
        train = RawInputs(movies, labels, poster, description, self.max_tokens, augment=True)
        val = RawInputs(*validation, poster, description, self.max_tokens) \
            if validation is not None and len(validation[0]) else None
        device = resolve_device(config.device)
        on_gpu = device == "cuda"
        # The default precision becomes bf16 where it pays; any other a user set is kept.
        precision = "bf16-mixed" if autocast_bf16(device) and config.precision == "32-true" else config.precision
        stage = replace(config, max_epochs=min(config.max_epochs, self.epochs), batch_size=self.batch_size,
                        lr=self.head_lr, precision=precision,
                        # Decoding posters is what a GPU waits for; on a CPU the workers would compete with it.
                        num_workers=config.num_workers or (min(8, os.cpu_count() or 1) if on_gpu else 0))
        fit_network(net, train, val, stage, pos_weight=pos_weight(labels.sum(0), len(labels)),
                    run_dir=None if run_dir is None else f"{run_dir}/finetune", resume=resume, label="fine-tuning")
        self.nets_ = [net.head]
        self.run_id_ = uuid.uuid4().hex[:12]
        self.modules_ = {"poster": net.poster, "description": net.description}
        self._tuned = {}

    def trainable_encoders(self, device: str) -> tuple[ImageEncoder | None, SentenceEncoder | None]:
        """Trainable copies of the frozen encoders this model reads (the cached originals stay untouched)."""
        poster = description = None
        if "poster" in self.inputs:
            poster = copy.copy(super().poster_encoder(device))
            poster.model = _without_unused_heads(copy.deepcopy(poster.model))
        if "description" in self.inputs:
            description = copy.copy(super().description_encoder(device))
            description.model = _without_unused_heads(copy.deepcopy(description.model))
        return poster, description

    def _encoder(self, modality: str, base, device: str):
        modules = getattr(self, "modules_", {})
        if modules.get(modality) is None:  # not fine-tuned yet: the first stage reads the frozen vectors
            return base
        key = (modality, device)
        if key not in self._tuned:
            tuned = copy.copy(base)
            tuned.model = modules[modality].to(device).eval()
            tuned.name = self.encoder_name(modality)
            self._tuned[key] = tuned
        return self._tuned[key]

    def encoder_name(self, modality: str) -> str:
        name = super().encoder_name(modality)
        tuned = getattr(self, "modules_", {}).get(modality) is not None
        return f"{name}+ft-{self.run_id_}" if tuned else name  # its own feature cache and ONNX export

    def poster_encoder(self, device: str = "cpu") -> ImageEncoder:
        return self._encoder("poster", super().poster_encoder(device), device)

    def description_encoder(self, device: str = "cpu") -> SentenceEncoder:
        return self._encoder("description", super().description_encoder(device), device)

    def _get_state(self):
        state, arrays = super()._get_state()
        for modality, module in self.modules_.items():
            if module is not None:
                arrays.update({f"{modality}_encoder.{k}": v.detach().cpu().numpy()
                               for k, v in module.state_dict().items()})
        return {**state, "run_id": self.run_id_}, arrays

    def _set_state(self, state, arrays):
        super()._set_state(state, {k: v for k, v in arrays.items()
                                   if not k.startswith(("poster_encoder.", "description_encoder."))})
        self.run_id_ = state["run_id"]
        self.modules_, self._tuned = {}, {}
        poster, description = self.trainable_encoders("cpu")
        for modality, encoder in (("poster", poster), ("description", description)):
            if encoder is not None:
                prefix = f"{modality}_encoder."
                encoder.model.load_state_dict({k.removeprefix(prefix): torch.as_tensor(v) for k, v in arrays.items()
                                               if k.startswith(prefix)})
            self.modules_[modality] = encoder.model.eval() if encoder is not None else None


def _without_unused_heads(module: nn.Module) -> nn.Module:
    """Drop the layers the pooled embeddings never pass through (EfficientNet's ImageNet classifier, BERT's
    pooler): they would get no gradient, stall DDP's all-reduce and weigh down the saved run."""
    for child in module.modules():
        if isinstance(getattr(child, "_fc", None), nn.Linear):
            child._fc = nn.Identity()
        if getattr(child, "pooler", None) is not None and hasattr(child, "config"):
            child.pooler = None
    return module


def _finetuned(fusion: str):
    return lambda **params: FinetunedFusion(**{"fusion": fusion, **params})


for _name, _fusion in TUNABLE.items():
    register_model(_name + FINETUNED_SUFFIX)(_finetuned(_fusion))
