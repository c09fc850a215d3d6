"""End-to-end fine-tuning (``train --finetune``): the CUDA path run on the CPU on a tiny table."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import run_moviegenre
from moviegenre.features.encoders import image_encoder, text_encoder
from moviegenre.models import load_model
from moviegenre.serving.explain import Explainer
from moviegenre.serving.predictor import Predictor


def _changed(pretrained: torch.nn.Module, tuned: torch.nn.Module) -> int:
    before, after = pretrained.state_dict(), tuned.state_dict()
    return sum(not torch.equal(before[k], after[k]) for k in after if after[k].is_floating_point())


def test_finetune_trains_both_encoders_on_cpu_and_predicts(monkeypatch, capsys, tiny_table_csv, tmp_path):
    run = tmp_path / "run"
    code, out, err = run_moviegenre(monkeypatch, capsys, "train", tiny_table_csv, "--model", "fusion-gmu", "--finetune",
                                    "--device", "cpu", "--max-epochs", "1", "--min-genre-count", "3",
                                    "--param", "batch_size=16", "--out", run, "--no-progress")
    assert code == 0, err
    assert json.loads((run / "run.json").read_text())["model"] == "fusion-gmu-finetune"
    assert (run / "finetune" / "checkpoints" / "last.ckpt").exists()  # the end-to-end stage resumes from here

    model = load_model(run)
    poster, description = model.poster_encoder(), model.description_encoder()
    assert poster.name.startswith("efficientnet-lite0+ft-") and description.name.startswith("minilm+ft-")
    assert _changed(image_encoder("efficientnet-lite0").model, poster.model) > 0
    assert _changed(text_encoder("minilm").model, description.model) > 0

    code, out, err = run_moviegenre(monkeypatch, capsys, "predict", run, "--poster",
                                    tiny_table_csv.parent / "posters" / "tt0000000.png",
                                    "--description", "ghost blood night scream", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["used"] == {"poster": True, "description": True, "title": False}
    assert all(0 <= p <= 1 for p in result["probabilities"].values())

    # The web service and the explanations read the fine-tuned encoders too (through their ONNX twins).
    poster_bytes = (tiny_table_csv.parent / "posters" / "tt0000000.png").read_bytes()
    explained = Explainer(Predictor(run)).explain(poster=poster_bytes, description="ghost blood night scream", top=1)
    assert explained.prediction["probabilities"] == pytest.approx(result["probabilities"], abs=1e-3)


def test_finetune_of_a_model_without_encoders_is_a_one_line_error(monkeypatch, capsys, tiny_table_csv, tmp_path):
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", tiny_table_csv, "--model", "tfidf-logreg",
                                  "--finetune", "--out", tmp_path / "run")
    assert code != 0
    assert "model 'tfidf-logreg' cannot be fine-tuned (--finetune works with: description-mlp, fusion-concat" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bf16-autocast"])
def test_every_end_to_end_parameter_gets_a_gradient(bf16):
    from moviegenre.models import create_model
    from moviegenre.models.finetune import EndToEndNet
    from moviegenre.models.fusion_net import FusionNet

    torch.manual_seed(0)
    poster, description = create_model("fusion-gmu-finetune").trainable_encoders("cpu")
    net = EndToEndNet(FusionNet(poster.dim, description.dim, 3, hidden=8), poster, description, 1e-5).train()
    tokens = description.model.tokenizer(["a ghost at night", "love in paris", "a heist", "war"], padding=True,
                                         return_tensors="pt")
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = net(torch.randn(4, 3, 224, 224), torch.ones(4), torch.ones(4), **tokens)
    assert torch.isfinite(logits).all()
    logits.float().sum().backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
    assert all(m.training is False for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_fine_tuning_autocasts_to_bf16_on_a_gpu_and_on_a_cpu_with_amx_only(monkeypatch):
    from moviegenre.models.finetune import autocast_bf16

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert autocast_bf16("cuda") and not autocast_bf16("cpu")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert autocast_bf16("cpu") and not autocast_bf16("mps")
