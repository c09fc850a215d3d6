"""Model parameters and training settings of the right type but out of range (``param_ranges``): one line, before
anything is embedded or trained, from `train`, from `audit` and from a saved model; every registered model's
defaults in range."""

from __future__ import annotations

import inspect
import json
import shutil
from dataclasses import asdict, fields

import pytest

from conftest import run_moviegenre
from moviegenre.errors import ConfigError
from moviegenre.models.base import DEFAULT_MODEL_DIR, MODEL_JSON, MODEL_WEIGHTS, check_param_types, load_model
from moviegenre.models.registry import create_model, list_models
from moviegenre.training.config import TrainConfig


class ReachedTheSplit(Exception):
    """Raised in place of the genre split, the step every embedding and fit follows."""


@pytest.fixture
def split_stops_the_run(monkeypatch):
    from moviegenre.training import pipeline

    def split(*args, **kwargs):
        raise ReachedTheSplit

    monkeypatch.setattr(pipeline, "genre_split", split)


def _train(table, out, model, param, monkeypatch, capsys):
    return run_moviegenre(monkeypatch, capsys, "train", table, "--out", out, "--model", model, "--min-genre-count",
                          "3", "--no-progress", "--param", param)


# (model, --param, the error line's message); a fusion model's ranges are shared by every registered preset of it.
BAD = [
    ("fusion-gmu", "ensemble=0", "parameter 'ensemble' is 0, expected a whole number in [1, 100]"),
    ("fusion-gmu", "hidden=-5", "parameter 'hidden' is -5, expected a whole number in [1, 65536]"),
    # Sizes far beyond any sensible value: each failed (or took the machine's memory) in the fit, after the embedding.
    ("fusion-gmu", "hidden=1000000000", "parameter 'hidden' is 1000000000, expected a whole number in [1, 65536]"),
    ("fusion-gmu", "ensemble=101", "parameter 'ensemble' is 101, expected a whole number in [1, 100]"),
    ("fusion-gmu", "tfidf_terms=10000001",
     "parameter 'tfidf_terms' is 10000001, expected a whole number in [1, 10000000]"),
    ("fusion-gmu-finetune", "max_tokens=513", "parameter 'max_tokens' is 513, expected a whole number in [1, 512]"),
    ("fusion-gmu", 'config={"batch_size": 2000000}',
     "config: parameter 'batch_size' is 2000000, expected a whole number in [1, 1048576]"),
    ("fusion-gmu", 'config={"num_workers": 5000}', "config: parameter 'num_workers' is 5000, expected a whole number in [0, 1024]"),
    ("fusion-gmu", 'config={"devices": 5000}', "config: parameter 'devices' is 5000, expected a whole number in [1, 1024]"),
    ("fusion-gmu", "dropout=1", "parameter 'dropout' is 1, expected in [0, 1)"),
    ("fusion-gmu", "modality_dropout=-0.1", "parameter 'modality_dropout' is -0.1, expected in [0, 1]"),
    ("fusion-gmu", "tfidf_weight=-0.5", "parameter 'tfidf_weight' is -0.5, expected in [0, 1]"),
    ("fusion-gmu", "title_weight=1.5", "parameter 'title_weight' is 1.5, expected in [0, 1]"),
    ("fusion-gmu", "poster_text_weight=-1", "parameter 'poster_text_weight' is -1, expected in [0, 1]"),
    ("fusion-gmu", "poster_net_weight=2", "parameter 'poster_net_weight' is 2, expected in [0, 1]"),
    ("fusion-gmu", "description_net_weight=-0.25", "parameter 'description_net_weight' is -0.25, expected in [0, 1]"),
    ("fusion-gmu", "description_net_weight_with_poster=1.01",
     "parameter 'description_net_weight_with_poster' is 1.01, expected in [0, 1]"),
    ("fusion-gmu", "tfidf_terms=0", "parameter 'tfidf_terms' is 0, expected a whole number in [1, 10000000]"),
    ("description-mlp", "hidden=0", "parameter 'hidden' is 0, expected a whole number in [1, 65536]"),
    ("embedding-logreg", "C=0", "parameter 'C' is 0, expected more than 0"),
    ("tfidf-logreg", "C=-1", "parameter 'C' is -1, expected more than 0"),
    ("tfidf-logreg", "C=NaN", "parameter 'C' is nan, expected more than 0"),
    ("tfidf-logreg", "C=Infinity", "parameter 'C' is inf, expected a finite number more than 0"),
    ("fusion-gmu", 'config={"lr": Infinity}', "config: parameter 'lr' is inf, expected a finite number more than 0"),
    ("fusion-gmu", 'config={"grad_clip": Infinity}', "config: parameter 'grad_clip' is inf, expected a finite number 0 or more"),
    ("tfidf-logreg", "min_df=0", "parameter 'min_df' is 0, expected a whole number 1 or more"),
    ("tfidf-logreg", "max_terms=0", "parameter 'max_terms' is 0, expected a whole number in [1, 10000000]"),
    ("tfidf-nb-logreg", "C=0.0", "parameter 'C' is 0.0, expected more than 0"),
    ("seed-text-cnn-lstm", "num_words=0", "parameter 'num_words' is 0, expected a whole number in [1, 10000000]"),
    ("seed-text-cnn-lstm", "max_df=0", "parameter 'max_df' is 0, expected in (0, 1]"),
    ("seed-text-cnn-lstm", "max_df=1.5", "parameter 'max_df' is 1.5, expected in (0, 1]"),
    ("seed-text-cnn-lstm", "max_length=0", "parameter 'max_length' is 0, expected a whole number in [1, 100000]"),
    # No longer than a description may be (every description is padded to it).
    ("seed-text-cnn-lstm", "max_length=100001",
     "parameter 'max_length' is 100001, expected a whole number in [1, 100000]"),
    # None only where the signature allows it (tfidf_terms, max_terms, max_length: "all"): elsewhere it failed in
    # the fit, after the embedding, or in a saved model, at its first prediction.
    ("fusion-gmu", "tfidf_weight=null", "parameter 'tfidf_weight' is None, expected float"),
    ("fusion-gmu", "image_encoder=null", "parameter 'image_encoder' is None, expected str"),
    ("fusion-gmu", 'config={"lr": null}', "config: parameter 'lr' is None, expected float"),
    ("fusion-gmu", 'description_words={"C": null}', "description_words: parameter 'C' is None, expected float"),
    # The fine-tuned twins inherit the fusion's ranges and add their own.
    ("fusion-gmu-finetune", "dropout=-0.3", "parameter 'dropout' is -0.3, expected in [0, 1)"),
    ("fusion-gmu-finetune", "epochs=0", "parameter 'epochs' is 0, expected a whole number in [1, 100000]"),
    ("fusion-gmu-finetune", "batch_size=0", "parameter 'batch_size' is 0, expected a whole number in [1, 1048576]"),
    ("fusion-gmu-finetune", "encoder_lr=0", "parameter 'encoder_lr' is 0, expected more than 0"),
    ("fusion-gmu-finetune", "head_lr=-0.001", "parameter 'head_lr' is -0.001, expected more than 0"),
    ("poster-mlp-finetune", "max_tokens=0", "parameter 'max_tokens' is 0, expected a whole number in [1, 512]"),
    # Training settings, checked the same way in any model's config.
    *[("fusion-gmu", f'config={{"{field}": {value}}}', f"config: parameter '{field}' is {value}, expected {expected}")
      for field, value, expected in [
          ("max_epochs", 0, "a whole number in [1, 100000]"), ("batch_size", 0, "a whole number in [1, 1048576]"), ("lr", 0, "more than 0"),
          ("lr", -0.001, "more than 0"), ("weight_decay", -0.01, "0 or more"), ("patience", -1, "0 or more"),
          ("lr_patience", -1, "0 or more"), ("lr_factor", 0, "in (0, 1)"), ("lr_factor", 1.0, "in (0, 1)"),
          ("grad_clip", -1.0, "0 or more"), ("pos_weight_power", -0.25, "0 or more"),
          ("label_smoothing", 0.6, "in [0, 0.5]"), ("label_smoothing", -0.1, "in [0, 0.5]"),
          ("seed", -1, "in [0, 2147483647]"), ("seed", 2**31, "in [0, 2147483647]"), ("devices", 0, "a whole number in [1, 1024]"),
          ("num_nodes", 0, "a whole number in [1, 100000]"), ("num_workers", -1, "a whole number in [0, 1024]")]],
    ("seed-poster-cnn", 'config={"batch_size": 0}', "config: parameter 'batch_size' is 0, expected a whole number in [1, 1048576]"),
    ("tfidf-logreg", "C=true", "parameter 'C' is True, expected float"),  # a bool is still a type error
    # A count whose default is None (all terms) is still a whole number.
    ("tfidf-logreg", "max_terms=2.5", "parameter 'max_terms' is 2.5, expected a whole number in [1, 10000000]"),
    ("tfidf-logreg", "analyzer=words", "parameter 'analyzer' is 'words', expected one of: word, char, word+char"),
    ("tfidf-logreg", "column=genres", "parameter 'column' is 'genres', expected one of: description, title, poster_text"),
    # A title or a poster's text only comes beside a poster or description (predict, evaluate --use, serve): a model
    # trained on it alone could not be used (predict read the description, or nothing, and gave the prior).
    *[(model, f"column={column}", (f"parameter 'column' is '{column}', expected 'description': a model on its own "
                                   "is given a poster and/or a description, titles and poster text only beside them "
                                   "(the fusion models read those)"))
      for model, column in [("tfidf-logreg", "title"), ("tfidf-nb-logreg", "poster_text")]],
    ("fusion-gmu", "fusion=late", "parameter 'fusion' is 'late', expected one of: gmu, concat, poster, description"),
    ("fusion-gmu", 'config={"loss": "focal"}',
     "config: parameter 'loss' is 'focal', expected one of: weighted-bce, bce, weighted-focal, asl"),
    ("fusion-gmu", 'config={"precision": "8-bit"}', ("config: parameter 'precision' is '8-bit', expected one of: "
                                                    "32-true, 32, bf16-mixed, bf16, 16-mixed, 16, bf16-true, 16-true, 64-true, 64")),
    # The description's word model settings, checked as that model's own parameters.
    ("fusion-gmu", "description_words=5", "parameter 'description_words' is 5, expected an object of word model settings"),
    ("fusion-gmu", 'description_words={"analyser": "char"}',
     "parameter 'description_words' has no field 'analyser' (has: C, analyzer, max_terms, min_df, nb)"),
    ("fusion-gmu", 'description_words={"analyzer": "chars"}',
     "description_words: parameter 'analyzer' is 'chars', expected one of: word, char, word+char"),
    ("fusion-gmu", 'description_words={"C": 0}', "description_words: parameter 'C' is 0, expected more than 0"),
    ("fusion-gmu", 'description_words={"nb": "yes"}', "description_words: parameter 'nb' is 'yes', expected bool"),
]


@pytest.mark.parametrize(("model", "param", "message"), BAD)
def test_a_value_out_of_range_is_one_line_before_anything_is_embedded(model, param, message, session_tiny_table_csv,
                                                                      tmp_path, split_stops_the_run, monkeypatch,
                                                                      capsys):
    code, _, err = _train(session_tiny_table_csv, tmp_path / "run", model, param, monkeypatch, capsys)
    assert code == 2, err
    assert err == f"error: --param: {message} (model '{model}')\n"
    assert not (tmp_path / "run").exists()  # and the split that every embedding and fit follows was never reached


@pytest.mark.parametrize(("model", "param"), [
    ("fusion-gmu", "dropout=0"), ("fusion-gmu", "modality_dropout=1"), ("fusion-gmu", "tfidf_weight=1"),
    ("fusion-gmu", "title_weight=0"), ("fusion-gmu", "tfidf_terms=null"), ("fusion-gmu", "ensemble=1"),
    ("tfidf-logreg", "C=1e-9"), ("tfidf-logreg", "max_terms=1"), ("seed-text-cnn-lstm", "max_df=1"),
    ("tfidf-logreg", "analyzer=char"), ("tfidf-logreg", "column=description"), ("fusion-gmu", "fusion=concat"),
    ("tfidf-logreg", "max_terms=null"), ("seed-text-cnn-lstm", "max_length=null"), ("fusion-gmu", "config=null"),
    ("fusion-gmu", "description_words=null"), ("seed-text-cnn-lstm", "max_length=100000"),
    ("fusion-gmu", 'config={"loss": "asl", "precision": "32"}'),
    ("fusion-gmu", 'description_words={"analyzer": "word+char", "nb": true, "C": 1.0, "max_terms": 30000}'),
    ("fusion-gmu", ('config={"patience": 0, "lr_patience": 0, "grad_clip": 0, "pos_weight_power": 0, '
                    '"weight_decay": 0, "lr_factor": 0.99, "max_epochs": 1, "num_workers": 0, "label_smoothing": 0.5}')),
])
def test_a_value_at_the_edge_of_its_range_is_accepted(model, param, session_tiny_table_csv, tmp_path,
                                                      split_stops_the_run, monkeypatch, capsys):
    with pytest.raises(ReachedTheSplit):
        _train(session_tiny_table_csv, tmp_path / "run", model, param, monkeypatch, capsys)


@pytest.mark.parametrize(("field", "value", "option"), [
    ("seed", 5, []), ("devices", 2, []), ("device", '"cuda"', []), ("num_nodes", 2, []), ("progress", "true", []),
    ("verbose", "true", []), ("max_epochs", 2, ["--max-epochs", "1"])])
def test_a_config_field_the_run_sets_is_one_line_naming_its_option(field, value, option, session_tiny_table_csv,
                                                                    tmp_path, split_stops_the_run, monkeypatch, capsys):
    """The run's own setting replaced the config's unseen: config={"seed": 5} trained with seed 0."""
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", tmp_path / "run",
                                  "--model", "description-mlp", "--no-progress", *option,
                                  "--param", f'config={{"{field}": {value}}}')
    assert code == 2, err
    flag = "--" + field.replace("_", "-")
    assert err == f"error: config: '{field}' would be ignored, the run sets it (use {flag} instead)\n"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("model", ["seed-poster-cnn", "seed-text-cnn-lstm"])
def test_a_config_the_seed_design_would_override_is_one_line(model, session_tiny_table_csv, tmp_path,
                                                             split_stops_the_run, monkeypatch, capsys):
    """The original design replaced a config's learning rate unseen."""
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", tmp_path / "run",
                                  "--model", model, "--no-progress", "--param", 'config={"lr": 0.01}')
    assert code == 2, err
    assert err == ("error: config: 'lr' is fixed by the original design this model reproduces (lr=0.001); train "
                   "another model to choose it\n")
    assert not (tmp_path / "run").exists()


def test_audit_reports_a_value_out_of_range_before_its_first_fold(session_tiny_table_csv, tmp_path):
    from moviegenre.evaluation.audit import audit

    with pytest.raises(ConfigError) as caught:
        audit(session_tiny_table_csv, tmp_path / "audit", model="fusion-gmu", folds=2, min_genre_count=3,
              params={"config": {"batch_size": 0}})
    assert str(caught.value) == "params: config: parameter 'batch_size' is 0, expected a whole number in [1, 1048576] (model 'fusion-gmu')"
    assert not (tmp_path / "audit").exists()


def test_a_saved_model_with_a_value_out_of_range_is_damaged(tmp_path):
    saved = tmp_path / "model"
    saved.mkdir()
    shutil.copy(DEFAULT_MODEL_DIR / MODEL_WEIGHTS, saved)
    meta = json.loads((DEFAULT_MODEL_DIR / MODEL_JSON).read_text())
    meta["params"]["ensemble"] = 0
    (saved / MODEL_JSON).write_text(json.dumps(meta))
    with pytest.raises(ConfigError) as caught:
        load_model(saved)
    assert str(caught.value) == (f"{saved / MODEL_JSON}: damaged model files (parameter 'ensemble' is 0, expected a "
                                 "whole number in [1, 100]); retrain or restore the run")


@pytest.fixture
def labelled(session_tiny_table_csv):
    """The tiny table and its labels, for fitting through the Python API."""
    from moviegenre.data.genres import GenreEncoder
    from moviegenre.data.readers import read_table

    table = read_table(session_tiny_table_csv)
    return table, GenreEncoder(min_count=1).fit(table.genres).transform(table.genres)


def test_the_python_api_checks_parameter_rules_when_fitting(labelled):
    from moviegenre.models.tfidf import TfidfLogReg

    table, labels = labelled
    with pytest.raises(ValueError, match="parameter 'analyzer' is 'words', expected one of: word, char, word\\+char"):
        TfidfLogReg(analyzer="words").fit(table, labels)
    with pytest.raises(ValueError, match="parameter 'max_terms' is 0, expected a whole number in \\[1, 10000000\\]"):
        TfidfLogReg(max_terms=0).fit(table, labels)


def test_the_python_api_checks_a_training_config_given_as_such(labelled):
    """A TrainConfig object (``configure`` sets one from the command line's options) is checked as its fields are in
    a model.json: it was let through unchecked."""
    model = create_model("description-mlp", config=TrainConfig(batch_size=0))
    with pytest.raises(ValueError, match=r"config: parameter 'batch_size' is 0, expected a whole number in "
                                         r"\[1, 1048576\]"):
        model.fit(*labelled)


@pytest.mark.parametrize("name", [spec.name for spec in list_models()])
def test_the_defaults_of_every_registered_model_are_in_range(name):
    model = create_model(name)
    check_param_types(model, model.get_params())  # its config preset (a dict of TrainConfig fields) included
    # Each range names a parameter of the class that declares it: a misspelt name would never be checked.
    for cls in type(model).__mro__:
        declared = set(vars(cls).get("param_ranges", {}))
        assert declared <= set(inspect.signature(cls.__init__).parameters), (cls.__name__, declared)


def test_the_training_defaults_are_in_range():
    check_param_types(TrainConfig(), asdict(TrainConfig()))
    assert set(TrainConfig.param_ranges) <= {field.name for field in fields(TrainConfig)}
