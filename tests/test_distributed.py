"""DDP on the CPU: 2 gloo processes train a tiny FusionNet to the same weights as 1 process.

fit_network splits each global batch across the processes (rows rank::world) and DDP averages their
gradients, so with dropout off the 2-process run takes exactly the 1-process steps; only the order of
float32 additions differs (the mean of two half-batch gradient means vs one full-batch mean). Measured
differences are ~1e-7; the tolerance, 1e-5, leaves 100x margin and is still far below what a single
different batch or learning-rate decision would cause (~1e-2 on these weights).

Fine-tuning is also run under DDP once (through the CLI): its encoders skip batches that lack their input,
which DDP must tolerate, and only rank 0 may write the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HELPER = Path(__file__).with_name("ddp_train.py")
TOLERANCE = 1e-5


def train(devices: int, out: Path, *options: str) -> dict[str, np.ndarray]:
    # A fresh interpreter per run: Lightning's DDP launcher re-runs the script for each extra process.
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, str(HELPER), str(devices), str(out), *options], check=False, env=env,
                          timeout=240, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(np.load(out))


@pytest.mark.slow
def test_two_gloo_processes_train_like_one(tmp_path):
    torch_distributed = pytest.importorskip("torch.distributed")
    if not torch_distributed.is_gloo_available():
        pytest.skip("this torch build has no gloo backend")
    one, two = train(1, tmp_path / "one.npz"), train(2, tmp_path / "two.npz")
    assert np.abs(one["probs"] - one["untrained"]).max() > 1e-2  # it did learn: the comparison means something
    assert one.keys() == two.keys()
    for name in one:
        np.testing.assert_allclose(two[name], one[name], atol=TOLERANCE, rtol=0, err_msg=name)


@pytest.mark.slow
def test_two_processes_score_all_the_validation_rows_when_lightning_deals_them_out(tmp_path):
    """Rows that come one at a time (the seed networks', fine-tuning's) are dealt out by Lightning's sampler; the
    validation micro-F1 that picks epochs is still the whole set's, not a mean of each share's best."""
    pytest.importorskip("torch.distributed")
    for devices in (1, 2):
        scores = train(devices, tmp_path / f"{devices}.npz", "--one-by-one")
        assert float(scores["logged"]) == pytest.approx(float(scores["whole"]), abs=1e-6), devices


@pytest.mark.slow
def test_fine_tuning_runs_under_ddp_and_rank_zero_writes_the_run(tmp_path):
    """Two gloo processes fine-tune both encoders (which skip batches without their input) through the CLI."""
    pytest.importorskip("torch.distributed")
    from conftest import make_tiny_table
    from moviegenre.data.readers import read_table
    from moviegenre.models import load_model

    table = make_tiny_table(tmp_path / "data")
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [str(Path(sys.executable).with_name("moviegenre")), "train", str(table), "--model", "fusion-gmu",
               "--finetune", "--device", "cpu", "--devices", "2", "--max-epochs", "1", "--min-genre-count", "3",
               "--param", "batch_size=8", "--out", str(run), "--no-progress"]
    done = subprocess.run(command, check=False, env=env, timeout=400, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("trained fusion-gmu-finetune") == 1  # reported once, by rank 0
    probabilities = load_model(run).predict_proba(read_table(table))
    assert np.isfinite(probabilities).all()
