"""Every network a registered model trains, forward and backward in train mode (timm's test_model_backward).

Each case builds the network small, runs a random batch through it in train mode, checks the logits' shape and
finiteness, back-propagates a BCE loss on random 0/1 targets and checks that every trainable parameter gets a
finite, non-zero gradient, except those named in the case, which must get none (an absent input's branch), and
that the frozen parameters (GloVe) do not require one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits

from moviegenre.models.fusion_net import FUSIONS, FusionNet
from moviegenre.models.seed_cnn import IMAGE_SIZE, SeedPosterNet
from moviegenre.models.seed_text import MIN_LENGTH, SeedTextNet

GENRES = 5
# Which inputs a batch holds: (has_poster, has_description) for every row.
PRESENCE = {"both": (1.0, 1.0), "no-poster": (0.0, 1.0), "no-description": (1.0, 0.0)}
BOTH_INPUTS = ("gmu", "concat")  # the fusions that read a poster and a description
assert set(BOTH_INPUTS) < set(FUSIONS)
# The parameters that rightly get no gradient when one input is absent from every row of the batch (FusionNet's
# names; an EndToEndNet's head has them under "head.", its encoder of the absent input all under its name).
# - Its projection: the absent input is zeroed (has_* = 0) before the projection, so the Linear weight's gradient
#   (input x upstream) is zero, and the projection's output is multiplied by zero before it is fused (concat:
#   "* has_poster"; gmu: the gate is forced to 1 or 0 so that the absent branch has no weight), so the bias's is too.
# - gmu's gate: its output is multiplied by has_poster * has_description = 0 (the forced value replaces it).
ABSENT = {("gmu", "no-poster"): ("poster_proj.1.weight", "poster_proj.1.bias", "gate.weight", "gate.bias"),
          ("gmu", "no-description"): ("description_proj.1.weight", "description_proj.1.bias", "gate.weight",
                                      "gate.bias"),
          ("concat", "no-poster"): ("poster_proj.1.weight", "poster_proj.1.bias"),
          ("concat", "no-description"): ("description_proj.1.weight", "description_proj.1.bias")}
FUSION_CASES = [(fusion, presence) for fusion in FUSIONS
                for presence in (PRESENCE if fusion in BOTH_INPUTS else ["both"])]


def check_backward(net: nn.Module, inputs: dict, n: int, *, no_grad: tuple[str, ...] = (),
                   frozen: tuple[str, ...] = ()) -> None:
    """Forward ``inputs`` (``n`` rows) through ``net`` in train mode, back-propagate a BCE loss and check the gradients.

    ``no_grad``: names (or, ending in ".", name prefixes) of the parameters that must get no gradient in this case;
    ``frozen``: the names of the parameters that must not require one.
    """
    torch.manual_seed(0)
    net.train()
    logits = net(**inputs)
    assert logits.shape == (n, GENRES)
    assert torch.isfinite(logits).all()
    loss = binary_cross_entropy_with_logits(logits.float(), torch.randint(0, 2, (n, GENRES)).float())
    loss.backward()

    params = dict(net.named_parameters())
    assert sorted(name for name, p in params.items() if not p.requires_grad) == sorted(frozen)
    assert all(params[name].grad is None for name in frozen)

    def matches(key: str, name: str) -> bool:
        return key == name or (name.endswith(".") and key.startswith(name))

    for name in no_grad:  # each exclusion names a parameter of this network: none is excluded by a typo
        assert any(matches(key, name) for key in params), name
    trainable = {name: p for name, p in params.items() if p.requires_grad}
    silent = sorted(name for name, p in trainable.items() if p.grad is None or not p.grad.abs().sum() > 0)
    # Two-sided: every other parameter learns, and the excluded ones get nothing (an absent input must not leak).
    assert silent == sorted(key for key in trainable if any(matches(key, name) for name in no_grad))
    assert not [name for name, p in trainable.items() if p.grad is not None and not torch.isfinite(p.grad).all()]


def fusion_inputs(n: int, poster_dim: int, description_dim: int, presence: str) -> dict[str, torch.Tensor]:
    has_poster, has_description = PRESENCE[presence]
    return {"poster": torch.randn(n, poster_dim), "has_poster": torch.full((n,), has_poster),
            "description": torch.randn(n, description_dim), "has_description": torch.full((n,), has_description)}


@pytest.mark.parametrize(("fusion", "presence"), FUSION_CASES, ids=[f"{f}-{p}" for f, p in FUSION_CASES])
def test_fusion_net_forward_and_backward(fusion, presence):
    torch.manual_seed(0)
    n = 8  # modality dropout (train mode) drops an input of some complete rows; the others keep both branches
    net = FusionNet(poster_dim=12, description_dim=8, n_genres=GENRES, fusion=fusion, hidden=16)
    net.set_input_stats(torch.randn(20, 12).numpy() + 1, torch.randn(20, 8).numpy() - 1)
    check_backward(net, fusion_inputs(n, 12, 8, presence), n, no_grad=ABSENT.get((fusion, presence), ()))


def test_seed_poster_net_forward_and_backward():
    torch.manual_seed(0)
    n = 4  # BatchNorm1d in train mode needs more than one row
    posters = torch.randint(0, 256, (n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.uint8)
    check_backward(SeedPosterNet(GENRES), {"image": posters}, n)


def test_seed_text_net_forward_and_backward():
    torch.manual_seed(0)
    n, vocabulary, length = 6, 30, MIN_LENGTH + 8
    net = SeedTextNet(GENRES, vocabulary_size=vocabulary, dim=8)
    tokens = torch.randint(1, vocabulary, (n, length))
    tokens[:, :3] = 0  # padded at the front, as Keras' pad_sequences
    # The GloVe vectors stay as they are: the embedding must not even require a gradient.
    check_backward(net, {"tokens": tokens}, n, frozen=("embedding.weight",))


@pytest.fixture(scope="module")
def encoders() -> Callable:
    """Fresh trainable copies of the pretrained encoders fine-tuning puts under a head (the originals load once)."""
    from moviegenre.models import create_model

    return lambda: create_model("fusion-gmu-finetune").trainable_encoders("cpu")


@pytest.mark.parametrize(("fusion", "presence"), FUSION_CASES, ids=[f"{f}-{p}" for f, p in FUSION_CASES])
def test_end_to_end_net_forward_and_backward(encoders, fusion, presence):
    """EndToEndNet, as FinetunedFusion builds it: the encoder of an input the fusion does not read is left out."""
    from moviegenre.models.finetune import EndToEndNet

    torch.manual_seed(0)
    n = 4
    poster, description = encoders()
    poster = poster if fusion != "description" else None
    description = description if fusion != "poster" else None
    head = FusionNet(poster.dim if poster else 1, description.dim if description else 1, GENRES, fusion, hidden=8)
    net = EndToEndNet(head, poster, description, encoder_lr=1e-5)
    has_poster, has_description = PRESENCE[presence]
    size = poster.image_size if poster else 1  # as RawInputs.collate: blank pixels without a poster encoder
    inputs = {"pixels": torch.randn(n, 3, size, size), "has_poster": torch.full((n,), has_poster if poster else 0.0),
              "has_description": torch.full((n,), has_description if description else 0.0)}
    if description is not None:
        inputs |= description.model.tokenizer(["a ghost at night", "love in paris", "a heist", "war"][:n],
                                              padding=True, return_tensors="pt")
    # The encoder of an input absent from every row gets no gradient, all its parameters; the head's branch for
    # that input none either, as in FusionNet (ABSENT).
    absent = {"no-poster": ("poster.",), "no-description": ("description.",)}.get(presence, ())
    check_backward(net, inputs, n, no_grad=(*absent, *(f"head.{name}" for name in ABSENT.get((fusion, presence), ()))))
    # ... and is not even run: EndToEndNet encodes only the rows that hold the input (no wasted pass on blanks).
    assert all(p.grad is None for name, p in net.named_parameters() if name.startswith(absent))
    # Batch norms keep their ImageNet statistics in train mode (EndToEndNet.train).
    assert not any(m.training for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
