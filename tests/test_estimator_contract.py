"""The scikit-learn estimator contract the README promises: clone, parameters each model owns, a clear error before
fit, fit's inputs checked, a repr naming the model."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from moviegenre.data.table import MovieTable
from moviegenre.errors import ConfigError, DataError
from moviegenre.models import create_model, list_models, load_model
from moviegenre.models.tfidf import NoTerms, TfidfLogReg

NOT_FITTED = "model 'tfidf-logreg' is not fitted: call fit first \\(or load a trained run\\)"


@pytest.mark.parametrize("name", [spec.name for spec in list_models()])
def test_every_registered_model_clones_with_its_name_and_its_own_copies_of_its_parameters(name):
    model = create_model(name)
    assert model.get_params(deep=True) == model.get_params(deep=False)  # scikit-learn's tools pass deep
    twin = clone(model)
    assert type(twin) is type(model) and twin.name == name and twin.get_params() == model.get_params()
    assert not any(value is twin.get_params()[key] for key, value in model.get_params().items()
                   if isinstance(value, (dict, list)))


def test_a_clone_of_a_fitted_model_learns_nothing_from_it_and_saves_a_loadable_folder(session_tiny_labelled, tmp_path):
    table, labels, genres = session_tiny_labelled
    model = create_model("tfidf-logreg", C=2.0).fit(table, labels, genres=genres)
    twin = clone(model)
    assert not hasattr(twin, "prior_") and twin.C == 2.0
    loaded = load_model(twin.fit(table, labels, genres=genres).save(tmp_path / "run"))
    assert loaded.name == "tfidf-logreg" and loaded.C == 2.0


def test_save_refuses_a_model_without_a_registry_name_rather_than_write_an_unloadable_folder(session_tiny_labelled,
                                                                                             tmp_path):
    table, labels, genres = session_tiny_labelled
    model = create_model("tfidf-logreg")
    rebuilt = type(model)(**model.get_params()).fit(table, labels, genres=genres)  # no name: not through create_model
    with pytest.raises(ConfigError, match="no registry name"):
        rebuilt.save(tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_each_created_model_owns_its_preset_parameters():
    create_model("fusion-gmu").config["max_epochs"] = 1
    create_model("fusion-gmu-label-smoothing").config["label_smoothing"] = 0.5
    assert "max_epochs" not in create_model("fusion-gmu").config
    assert create_model("fusion-gmu-label-smoothing").config["label_smoothing"] == 0.05
    given = {"batch_size": 64}
    create_model("fusion-gmu", config=given).config["lr"] = 1.0
    assert given == {"batch_size": 64}


@pytest.mark.parametrize("use", ["predict_proba", "predict", "save"])
def test_a_model_used_before_fit_says_so(use, session_tiny_labelled, tmp_path):
    table = session_tiny_labelled[0]
    model = create_model("tfidf-logreg")
    with pytest.raises(ConfigError, match=NOT_FITTED) as raised:
        model.save(tmp_path / "run") if use == "save" else getattr(model, use)(table)
    assert isinstance(raised.value, (ValueError, AttributeError))  # as scikit-learn's NotFittedError: hasattr holds
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("fitted_before", [False, True])
def test_a_model_whose_fit_failed_says_it_is_not_fitted(fitted_before, session_tiny_labelled):
    # The fit fails after setting some learned state (prior_, vectorizers_): that must not count as fitted, nor may
    # an earlier fit's thresholds vouch for the state the failed one left.
    table, labels, genres = session_tiny_labelled
    model = create_model("tfidf-logreg")
    if fitted_before:
        model.fit(table, labels, genres=genres)
    with pytest.raises(NoTerms):
        model.fit(MovieTable(table.frame.assign(description=""), table.source), labels, genres=genres)
    with pytest.raises(ConfigError, match=NOT_FITTED):
        model.predict_proba(table)


def test_an_embedding_model_used_before_fit_says_so_before_embedding_anything(session_tiny_labelled, monkeypatch):
    model = create_model("fusion-gmu")
    monkeypatch.setattr(type(model), "features", lambda *args, **kwargs: pytest.fail("embedded before the check"))
    with pytest.raises(ConfigError, match="model 'fusion-gmu' is not fitted"):
        model.predict_proba(session_tiny_labelled[0])


@pytest.mark.parametrize(("change", "says"), [
    (lambda t, y, g: (t, y[:-10], g, None), "labels: 50 rows for 60 movies"),
    (lambda t, y, g: (t, y[:, 0], g, None), "labels: 1-D, expected a \\(movies, genres\\) matrix"),
    (lambda t, y, g: (t, np.where(y == 1, 3, 0), g, None), "labels: values other than 0 and 1 \\(first: 3\\)"),
    (lambda t, y, g: (t, np.where(y == 1, np.nan, 0), g, None), "labels: values other than 0 and 1 \\(first: nan\\)"),
    (lambda t, y, g: (t, y, g[:3], None), "genres: 3 names for 5 label columns"),
    (lambda t, y, g: (t, y, g, (t, y[:5])), "validation labels: 5 rows for 60 movies"),
    (lambda t, y, g: (t, y, g, (t, y[:, :2])), "validation labels: 2 columns for 5 genres"),
])
def test_fit_checks_its_inputs_before_learning(change, says, session_tiny_labelled):
    table, labels, genres, validation = change(*session_tiny_labelled)
    with pytest.raises(DataError, match=f"^{says}"):
        create_model("tfidf-logreg").fit(table, labels, genres=genres, validation=validation)


def test_repr_names_the_model_and_the_parameters_it_was_given():
    assert repr(create_model("tfidf-nb-logreg")) == "create_model('tfidf-nb-logreg')"
    assert repr(create_model("tfidf-nb-logreg", C=2.0)) == "create_model('tfidf-nb-logreg', C=2.0)"
    assert repr(TfidfLogReg(min_df=3)) == "TfidfLogReg(min_df=3)"  # no registry name: its class's defaults


def test_an_embedding_model_whose_refit_failed_says_it_is_not_fitted(session_tiny_labelled, monkeypatch):
    """fusion-gmu trains again on its training and validation rows once its thresholds are tuned: a refit stopped
    midway left the tuned thresholds vouching for networks half replaced."""
    from moviegenre.models.embedding import EmbeddingMLP
    from moviegenre.training.config import TrainConfig

    table, labels, genres = session_tiny_labelled
    model = create_model("fusion-gmu", ensemble=1, config=TrainConfig(max_epochs=1, batch_size=16, progress=False))
    fit_networks = EmbeddingMLP._fit

    def refit_fails(self, *args, epochs=None, **kwargs):
        if epochs is not None:  # the refit: each network trained for the epochs the validation rows chose
            raise RuntimeError("stopped")
        return fit_networks(self, *args, **kwargs)

    monkeypatch.setattr(EmbeddingMLP, "_fit", refit_fails)
    train, validation = np.arange(len(table)) % 4 != 0, np.arange(len(table)) % 4 == 0
    with pytest.raises(RuntimeError, match="stopped"):
        model.fit(table.subset(train), labels[train], validation=(table.subset(validation), labels[validation]),
                  genres=genres)
    with pytest.raises(ConfigError, match="model 'fusion-gmu' is not fitted"):
        model.predict_proba(table)


@pytest.mark.parametrize("spec", [spec for spec in list_models() if spec.name.endswith("-finetune")], ids=str)
def test_a_finetuned_models_summary_names_the_encoders_it_reads(spec):
    """'moviegenre models' said "poster-mlp's fusion on EfficientNet-Lite0 and MiniLM" of a poster-only model."""
    model = create_model(spec.name)
    assert ("EfficientNet-Lite0" in spec.summary) == ("poster" in model.inputs)
    assert ("MiniLM" in spec.summary) == ("description" in model.inputs)
