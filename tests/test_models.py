"""Every registered model on a tiny synthetic table: shapes, probabilities, save -> load, loud errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from moviegenre.data.readers import read_table
from moviegenre.errors import ConfigError, DataError, ImageError
from moviegenre.models import create_model, list_models, load_model
from moviegenre.models.fusion_net import FusionNet
from moviegenre.serving.predictor import Predictor
from moviegenre.training.config import TrainConfig

FAST = TrainConfig(max_epochs=2, batch_size=16, progress=False)


def fast_model(name: str):
    model = create_model(name)
    if "config" in model.get_params():
        model.set_params(config=FAST)
    if "epochs" in model.get_params():  # end-to-end models: one epoch of the encoders is plenty for a contract test
        model.set_params(epochs=1, batch_size=16)
    return model


@pytest.mark.parametrize("name", [spec.name for spec in list_models()])
def test_every_registered_model_fits_predicts_saves_and_loads(name, session_tiny_labelled, tmp_path):
    table, labels, genres = session_tiny_labelled
    train, val = np.arange(0, 45), np.arange(45, len(table))
    model = fast_model(name).fit(table.subset(train), labels[train], validation=(table.subset(val), labels[val]),
                                 genres=genres)
    probabilities = model.predict_proba(table)
    assert probabilities.shape == (len(table), len(genres))
    assert np.isfinite(probabilities).all()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert model.thresholds_.shape == (len(genres),)
    predictions = model.predict(table)
    assert predictions.shape == probabilities.shape
    assert set(np.unique(predictions)) <= {0, 1}
    # The probabilities depend on the input: they vary over the movies that hold every input (a model that gave
    # each movie the training rates, or read nothing of its input, would score them all alike).
    complete = table.has_poster & table.has_description
    assert complete.sum() >= 10
    assert probabilities[complete].std(axis=0).max() > 1e-4

    loaded = load_model(model.save(tmp_path / "run"))
    assert loaded.name == name and loaded.genres_ == list(genres)
    np.testing.assert_allclose(loaded.predict_proba(table), probabilities, atol=1e-5)
    np.testing.assert_array_equal(loaded.thresholds_, model.thresholds_)


def test_gmu_ignores_a_missing_modality():
    torch.manual_seed(0)
    net = FusionNet(poster_dim=4, description_dim=3, n_genres=2, fusion="gmu", hidden=8).eval()
    poster = torch.randn(1, 4)
    only_poster = net(poster, torch.ones(1), torch.randn(1, 3), torch.zeros(1))
    other_text = net(poster, torch.ones(1), torch.randn(1, 3) * 10, torch.zeros(1))
    torch.testing.assert_close(only_poster, other_text)


def test_a_model_with_no_init_of_its_own_has_no_parameters_and_fits(session_tiny_labelled):
    from moviegenre.models.base import GenreModel

    class Rates(GenreModel):  # as benchmarks/compare.py's genre-rates floor
        def _fit(self, movies, labels, validation, *, run_dir, resume) -> None:
            self.rates_ = labels.mean(0)

        def predict_proba(self, movies) -> np.ndarray:
            return np.tile(self.rates_, (len(movies), 1))

    table, labels, genres = session_tiny_labelled
    model = Rates().fit(table, labels, genres=genres)
    assert model.get_params() == {} and model.predict_proba(table).shape == labels.shape


def test_unknown_model_name_is_a_loud_error():
    with pytest.raises(ConfigError, match="unknown model 'nope' \\(known: .*fusion-gmu"):
        create_model("nope")


def test_unknown_encoder_name_is_a_loud_error(session_tiny_labelled):
    table, labels, genres = session_tiny_labelled
    model = create_model("poster-mlp", image_encoder="resnet-9000", config=FAST)
    with pytest.raises(ConfigError, match="unknown image encoder 'resnet-9000'"):
        model.fit(table, labels, genres=genres)


@pytest.mark.parametrize(("gpu", "expected"), [(True, "cuda"), (False, "cpu")])
def test_device_auto_means_the_gpu_where_there_is_one_and_the_cpu_otherwise(monkeypatch, gpu, expected):
    from moviegenre.features.encoders import image_encoder, resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert resolve_device("auto") == expected
    for device in ("cpu", "cuda", "cuda:1"):  # a device named is kept, whatever is there
        assert resolve_device(device) == device
    if not gpu:  # the encoder factory resolves "auto" itself (uncached: an earlier test may have built one)
        assert image_encoder.__wrapped__("efficientnet-lite0", "auto").device.type == "cpu"


def test_a_folder_that_is_not_a_run_is_a_loud_error(tmp_path):
    with pytest.raises(ConfigError, match="not a model folder"):
        Predictor(tmp_path)
    with pytest.raises(ConfigError, match="no such run folder"):
        Predictor(tmp_path / "missing")


def test_a_poster_that_is_not_an_image_is_a_loud_error(session_tiny_labelled, tmp_path):
    table, labels, genres = session_tiny_labelled
    fast_model("fusion-gmu").fit(table, labels, genres=genres).save(tmp_path / "run")
    bogus = tmp_path / "poster.jpg"
    bogus.write_text("not a picture")
    with pytest.raises(ImageError, match="poster.jpg: not an image"):
        Predictor(tmp_path / "run").predict(poster=bogus, description="a love story")


def test_predict_hands_the_model_the_posters_bytes_and_loads_it_only_for_valid_input(session_tiny_labelled, tmp_path,
                                                                                     monkeypatch):
    table, labels, genres = session_tiny_labelled
    model = fast_model("fusion-gmu").fit(table, labels, genres=genres)
    model.save(tmp_path / "run")
    predictor = Predictor(tmp_path / "run")
    with pytest.raises(ImageError, match="missing.jpg: cannot read"):
        predictor.predict(poster=tmp_path / "missing.jpg")
    assert "model" not in vars(predictor)  # bad input is reported before the model loads
    row = int(np.flatnonzero(table.has_poster & table.has_description)[0])
    poster, description = table.posters[row], table.descriptions[row]
    expected = model.predict_proba(table.subset([row]).with_inputs("both"))[0]  # no title given below
    seen = []
    predict_proba = predictor.model.predict_proba
    monkeypatch.setattr(predictor.model, "predict_proba", lambda movies: seen.append(movies) or predict_proba(movies))
    result = predictor.predict(poster=poster, description=description)
    assert seen[0].posters == [Path(poster).read_bytes()]  # no copy through a temporary file
    np.testing.assert_allclose([result["probabilities"][g] for g in genres], expected, atol=1e-4)


def test_training_resumes_from_the_last_checkpoint(session_tiny_table_csv, tmp_path):
    from moviegenre.training.pipeline import train

    options = {"min_genre_count": 3, "progress": False, "params": {"ensemble": 1}}
    last = tmp_path / "checkpoints" / "last.ckpt"
    train(session_tiny_table_csv, "fusion-gmu", tmp_path, max_epochs=2, **options)
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 1  # epochs 0-1 done
    train(session_tiny_table_csv, "fusion-gmu", tmp_path, max_epochs=4, resume=True, **options)
    epochs = pd.read_csv(tmp_path / "logs" / "metrics.csv")["epoch"].dropna()
    assert sorted(set(epochs)) == [0, 1, 2, 3]  # continued after epoch 1 up to the new cap, one curve throughout
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 3


@pytest.mark.parametrize("use", ["any", "poster", "description", "both"])
def test_evaluate_writes_the_contract_json_and_a_report(session_tiny_table_csv, session_fusion_run, tmp_path_factory,
                                                       use):
    from moviegenre.evaluation.evaluate import evaluate

    metrics = evaluate(session_fusion_run, session_tiny_table_csv, use=use,
                       report_dir=tmp_path_factory.mktemp(f"report-{use}"))
    assert {"n", "micro_f1", "macro_f1", "weighted_f1", "samples_f1", "map_macro", "per_genre"} <= set(metrics)
    table = read_table(session_tiny_table_csv).with_inputs(use)
    assert 0 < metrics["n"] <= len(table)
    for row in metrics["per_genre"].values():
        assert row["true_positives"] <= min(row["support"], row["predicted"])
        if row["support"]:
            assert row["recall"] == pytest.approx(row["true_positives"] / row["support"])
    report = Path(metrics["report"])
    for name in ("metrics.json", "report.md", "per_genre_f1.png", "confusion_matrices.png", "pr_curves.png"):
        assert (report / name).stat().st_size > 0


def test_evaluate_refuses_an_input_the_model_does_not_read_and_an_unknown_split(session_tiny_labelled,
                                                                                  session_tiny_table_csv, tmp_path):
    from moviegenre.evaluation.evaluate import evaluate

    table, labels, genres = session_tiny_labelled
    fast_model("description-mlp").fit(table, labels, genres=genres).save(tmp_path / "run")
    with pytest.raises(DataError, match="does not read a poster.*--use any, or --use description"):
        evaluate(tmp_path / "run", session_tiny_table_csv, use="poster", report_dir=tmp_path / "report")
    with pytest.raises(DataError, match="unknown split 'tset'.*train, validation, test"):
        evaluate(tmp_path / "missing-run", session_tiny_table_csv, split="tset")  # before the run is read
    assert not (tmp_path / "report").exists()


def test_evaluate_says_what_it_left_out_and_which_rows_the_run_trained_on(session_tiny_table_csv, tmp_path,
                                                                           monkeypatch, capsys):
    from conftest import run_moviegenre
    from moviegenre.evaluation.evaluate import evaluate
    from moviegenre.training.pipeline import train

    train(session_tiny_table_csv, "tfidf-logreg", tmp_path / "run", min_genre_count=3, progress=False)
    table = read_table(session_tiny_table_csv)
    whole = evaluate(tmp_path / "run", session_tiny_table_csv, report_dir=tmp_path / "whole")
    assert whole["n_without_input"] == int((~table.has_description).sum())  # a word model reads descriptions only
    trained = pd.read_csv(tmp_path / "run" / "split.csv").query("split != 'test'")["imdb_id"]
    assert 0 < whole["n_trained_on"] <= len(set(trained) & set(table.subset(table.has_description).ids))
    assert "rows the run trained or validated on" in (tmp_path / "whole" / "report.md").read_text()
    held_out = evaluate(tmp_path / "run", session_tiny_table_csv, split="test", report_dir=tmp_path / "test")
    assert "n_trained_on" not in held_out
    code, out, err = run_moviegenre(monkeypatch, capsys, "evaluate", tmp_path / "run", session_tiny_table_csv,
                                    "--report", tmp_path / "cli")
    assert code == 0, err
    assert f"note: {whole['n_trained_on']:,} of the {whole['n']:,} movies scored are rows the run trained" in out
    with pytest.raises(DataError, match=r"model 'tfidf-logreg' does not read a poster \(use --use any, or --use "
                                        r"description\)"):
        evaluate(tmp_path / "run", session_tiny_table_csv, use="both", report_dir=tmp_path / "both")


def test_evaluate_names_the_genres_the_run_does_not_predict_and_the_genres_its_macro_average_covers(
        session_quick_run, tmp_path, monkeypatch, capsys):
    from conftest import run_moviegenre

    table = tmp_path / "drama.csv"  # Drama is the only genre of the run's five here; Western and Musical none of them
    table.write_text("imdb_id,title,year,genres,description,poster\n"
                     "tt9000001,A,2001,Drama|Western,family loss life tears,\n"
                     "tt9000002,B,2002,Western,ghost blood night scream,\n"
                     "tt9000003,C,2003,Drama|Musical|Western,family tears,\n", encoding="utf-8")
    code, out, err = run_moviegenre(monkeypatch, capsys, "evaluate", session_quick_run, table, "--json",
                                    tmp_path / "metrics.json", "--report", tmp_path / "report")
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["unknown_genres"] == {"Western": 3, "Musical": 1}
    assert (metrics["n_with_unknown_genre"], metrics["n_without_known_genre"], metrics["n_genres_present"]) == (3, 1, 1)
    unknown = ("4 labels in 3 rows with the inputs scored name genres the run does not predict, and are not scored: "
               "Western (3), Musical (1)")
    covered = "macro-F1, weighted-F1 and mAP cover only the 1 of 5 genres present in these rows"
    assert f"note: {unknown}" in out and f"note: {covered}" in out
    report = (tmp_path / "report" / "report.md").read_text()
    assert unknown in report and f"M{covered[1:]}" in report


def test_evaluate_bounds_its_unknown_genres_says_when_only_their_case_differs_and_names_them_when_all_are(
        session_quick_run, tmp_path, monkeypatch, capsys):
    from conftest import run_moviegenre

    genres = json.loads((session_quick_run / "run.json").read_text())["genres"]
    many = tmp_path / "many.csv"  # 30 genres the run does not know, and the run's first in lower case
    many.write_text("imdb_id,title,year,genres,description,poster\n" + "".join(
        f"tt90{i:05d},T,2001,{genres[0]}|{genres[0].lower()}|Zgenre{i:02d},family tears,\n" for i in range(30)))
    code, out, err = run_moviegenre(monkeypatch, capsys, "evaluate", session_quick_run, many)
    assert code == 0, err
    note = next(line for line in out.splitlines() if "the run does not predict" in line)
    assert note.startswith(f"note: 60 labels in 30 rows with the inputs scored name genres the run does not predict, "
                           f"and are not scored: {genres[0].lower()} (30), Zgenre00 (1), ")
    assert "Zgenre08 (1) and 21 more; genres are matched as written: " in note and "Zgenre09" not in note
    assert note.endswith(f"{genres[0].lower()} is not the run's {genres[0]}")
    assert _refused_for_no_known_genre(session_quick_run, tmp_path, monkeypatch, capsys, "Western|War") == \
        "War (1), Western (1)"


def test_evaluate_names_a_genre_holding_a_control_character_escaped_on_its_one_line(session_quick_run, tmp_path,
                                                                                      monkeypatch, capsys):
    from conftest import run_moviegenre

    table = tmp_path / "odd.csv"  # Drama is one of the run's genres; the others hold a tab, a line break, an escape
    table.write_text('imdb_id,title,year,genres,description,poster\n'
                     'tt9000001,A,2001,"Drama|We\tstern",family loss life tears,\n'
                     'tt9000002,B,2002,"Drama|Mu\nsical|Wa\x1br",family tears,\n', encoding="utf-8")
    code, out, err = run_moviegenre(monkeypatch, capsys, "evaluate", session_quick_run, table, "--report",
                                    tmp_path / "report")
    assert code == 0, err
    note = next(line for line in out.splitlines() if "the run does not predict" in line)
    assert note.endswith(r"and are not scored: We\tstern (1), Mu\nsical (1), Wa\x1br (1)")
    assert _refused_for_no_known_genre(session_quick_run, tmp_path, monkeypatch, capsys, '"We\nstern"') == \
        r"We\nstern (1)"


def _refused_for_no_known_genre(run, tmp_path, monkeypatch, capsys, genres_cell: str) -> str:
    """The genres evaluate's one-line refusal lists for a one-movie table none of whose genres the run predicts."""
    from conftest import run_moviegenre

    none = tmp_path / "none.csv"
    none.write_text(f"imdb_id,title,year,genres,description,poster\ntt9100001,T,2001,{genres_cell},family tears,\n")
    code, _, err = run_moviegenre(monkeypatch, capsys, "evaluate", run, none)
    prefix = (f"error: {none}: no rows to score with --use any and the model's genres (the table's genres are not the "
              "model's: ")
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith(prefix) and err.endswith(")\n"), err
    return err[len(prefix):-2]


def test_word_model_is_blended_only_into_rows_with_a_description(session_tiny_labelled):
    table, labels, genres = session_tiny_labelled
    model = fast_model("fusion-gmu").fit(table, labels, genres=genres)
    assert model.words_ is not None
    features = model.features(table, progress=False)
    blended = model.predict_from_features(features, table.descriptions)
    head_only = model.set_params(tfidf_weight=0.0).predict_from_features(features, table.descriptions)
    with_text = table.has_description
    np.testing.assert_array_equal(blended[~with_text], head_only[~with_text])
    assert np.abs(blended[with_text] - head_only[with_text]).min(axis=1).max() > 0
    assert fast_model("poster-mlp").fit(table, labels, genres=genres).words_ is None  # reads no descriptions


def test_the_description_word_model_takes_its_own_settings_and_keeps_them_when_saved(session_tiny_labelled, tmp_path):
    table, labels, genres = session_tiny_labelled
    words = {"analyzer": "word+char", "nb": True, "C": 1.0}
    model = fast_model("description-mlp")
    model.set_params(ensemble=1, description_words=words).fit(table, labels, genres=genres)
    assert (model.words_.analyzer, model.words_.nb, len(model.words_.vectorizers_)) == ("word+char", True, 2)
    loaded = load_model(model.save(tmp_path / "run"))
    assert loaded.words_.analyzer == "word+char" and len(loaded.words_.vectorizers_) == 2
    np.testing.assert_allclose(loaded.predict_proba(table), model.predict_proba(table), atol=1e-5)


@pytest.mark.parametrize("modality", ["poster", "description"])
def test_a_single_input_network_moves_only_the_rows_that_have_its_input_alone(session_tiny_labelled, modality):
    table, labels, genres = session_tiny_labelled
    weights = {"poster_net_weight": 0.0, "description_net_weight": 0.0, "description_net_weight_with_poster": 0.0,
               f"{modality}_net_weight": 0.5}
    model = fast_model("fusion-gmu").set_params(ensemble=2, **weights).fit(table, labels, genres=genres)
    assert list(model.alone_nets_) == [modality] and len(model.alone_nets_[modality]) == 2
    with_net = {use: model.predict_proba(table.with_inputs(use)) for use in ("poster", "description", "both")}
    model.set_params(**{f"{modality}_net_weight": 0.0})
    without = {use: model.predict_proba(table.with_inputs(use)) for use in ("poster", "description", "both")}
    other = "description" if modality == "poster" else "poster"
    assert np.abs(with_net[modality] - without[modality]).max() > 0.01
    np.testing.assert_array_equal(with_net[other], without[other])
    np.testing.assert_array_equal(with_net["both"], without["both"])


def test_the_description_network_blended_where_a_poster_is_given_too_moves_only_those_rows(session_tiny_labelled):
    table, labels, genres = session_tiny_labelled
    model = fast_model("fusion-gmu").set_params(ensemble=1, poster_net_weight=0.0, description_net_weight=0.0,
                                                description_net_weight_with_poster=0.5)
    model.fit(table, labels, genres=genres)
    assert list(model.alone_nets_) == ["description"]  # trained for its weight on both-input rows alone
    uses = ("poster", "description", "both")
    blended = {use: model.predict_proba(table.with_inputs(use)) for use in uses}
    model.set_params(description_net_weight_with_poster=0.0)
    without = {use: model.predict_proba(table.with_inputs(use)) for use in uses}
    assert np.abs(blended["both"] - without["both"]).max() > 0.01
    for use in ("poster", "description"):
        np.testing.assert_array_equal(blended[use], without[use])


def test_a_description_given_alone_is_judged_by_thresholds_tuned_on_descriptions_given_alone(session_tiny_labelled,
                                                                                            tmp_path, monkeypatch):
    from moviegenre.evaluation import metrics
    from moviegenre.evaluation.metrics import best_global_threshold, tune_thresholds

    monkeypatch.setattr(metrics, "MIN_POSITIVES_FOR_OWN_THRESHOLD", 2)  # the tiny table's genres are all rare
    table, labels, genres = session_tiny_labelled
    train, val = np.arange(0, 45), np.arange(45, len(table))
    validation = table.subset(val)
    model = fast_model("fusion-gmu").set_params(ensemble=1, refit=False).fit(  # a refit moves the probabilities
        table.subset(train), labels[train], validation=(validation, labels[val]), genres=genres)
    shift = model.description_shift_
    assert model.description_thresholds and shift.shape == (len(genres),) and np.abs(shift).max() > 0
    uses = ("poster", "description", "both")
    shifted = {use: model.predict_proba(table.with_inputs(use)) for use in uses}
    model.description_shift_ = None
    shared = {use: model.predict_proba(table.with_inputs(use)) for use in uses}
    titled = table.with_inputs("description")
    titled.frame["title"] = "The Long Night"
    shared["titled"] = model.predict_proba(titled)
    model.description_shift_ = shift
    shifted["titled"] = model.predict_proba(titled)
    model.description_shift_ = None
    for use in ("poster", "both", "titled"):  # a row with a poster, or a title the model reads, keeps the shared ones
        np.testing.assert_array_equal(shifted[use], shared[use])
    # A description alone clears the shared threshold exactly where it clears its own: each genre's best on the
    # validation rows' descriptions given alone, averaged with the global threshold of all validation rows.
    described = validation.has_description
    own = tune_thresholds(labels[val][described], model.predict_proba(validation.with_inputs("description")),
                          global_threshold=best_global_threshold(labels[val], model.predict_proba(validation))[0],
                          fallback=model.thresholds_)
    np.testing.assert_array_equal(shifted["description"] >= model.thresholds_ - 1e-6, shared["description"] >= own)
    model.description_shift_ = shift
    loaded = load_model(model.save(tmp_path / "run"))
    np.testing.assert_allclose(loaded.description_shift_, shift)
    np.testing.assert_allclose(loaded.predict_proba(table.with_inputs("description")), shifted["description"],
                               atol=1e-5)


def test_run_json_records_the_configuration_the_network_was_trained_with(session_tiny_table_csv, tmp_path):
    from moviegenre.models.seed_cnn import SeedPosterCNN
    from moviegenre.training.pipeline import train

    train(session_tiny_table_csv, "seed-poster-cnn", tmp_path, min_genre_count=3, max_epochs=1, progress=False)
    config = json.loads((tmp_path / "run.json").read_text())["config"]
    assert config["max_epochs"] == 1  # the run's own choice ...
    assert {k: config[k] for k in SeedPosterCNN.design} == SeedPosterCNN.design  # ... under the original's design


def test_a_registered_training_preset_holds_unless_a_train_option_overrides_it():
    from moviegenre.training.config import configure

    model = create_model("fusion-gmu")
    configure(model, 7, {"progress": False, "epochs": 3})  # not a TrainConfig field: ignored
    config = model.train_config()
    assert (config.pos_weight_power, config.seed, config.progress) == (0.35, 7, False)
    assert config.max_epochs == TrainConfig().max_epochs
    configure(model, 7, {"pos_weight_power": 0.5})
    assert model.train_config().pos_weight_power == 0.5
    plain = create_model("fusion-gmu-full-mpnet")
    configure(plain, 0, {})
    assert plain.train_config() == TrainConfig()


def test_a_config_param_overrides_a_registered_training_preset_field_by_field():
    """``config={"batch_size": 64}`` replaced the whole preset: label smoothing 0 and the plain weight power."""
    config = create_model("fusion-gmu-label-smoothing", config={"batch_size": 64}).train_config()
    assert (config.batch_size, config.label_smoothing, config.pos_weight_power) == (64, 0.05, 0.35)
    config = create_model("fusion-gmu-label-smoothing", config={"label_smoothing": 0.1}).train_config()
    assert (config.batch_size, config.label_smoothing, config.pos_weight_power) == (256, 0.1, 0.35)
    assert create_model("fusion-gmu-full-mpnet", config={"lr": 0.01}).train_config() == TrainConfig(lr=0.01)


def test_models_command_lists_every_registered_model_one_line_each(monkeypatch, capsys):
    from conftest import run_moviegenre

    code, out, _ = run_moviegenre(monkeypatch, capsys, "models")
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines] == [spec.name for spec in list_models()]
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)  # a name, then what it is


def test_cross_fitted_members_tune_thresholds_on_rows_they_never_trained_on(session_tiny_labelled, monkeypatch):
    from moviegenre.evaluation import metrics
    from moviegenre.training import lightning

    table, labels, genres = session_tiny_labelled
    train, val = np.arange(0, 45), np.arange(45, len(table))
    seen = []  # (training rows, early-stopping rows) of each member, identified by their label rows
    fit_network = lightning.fit_network

    def spy(net, train_set, val_set, config, **options):
        if net.fusion == "gmu":  # the poster network's members (fusion "poster") train on the same folds' posters
            seen.append((train_set.labels.numpy(), val_set.labels.numpy()))
        return fit_network(net, train_set, val_set, config, **options)

    monkeypatch.setattr(lightning, "fit_network", spy)  # imported by _fit when it trains
    tuned = {}
    monkeypatch.setattr(metrics, "tune_thresholds", lambda y, p: tuned.update(y=y, p=p) or np.full(len(genres), .5))
    model = fast_model("fusion-gmu").set_params(ensemble=3, cross_fit=True, refit=False,
                                             description_thresholds=False)
    model.fit(table.subset(train), labels[train], validation=(table.subset(val), labels[val]), genres=genres)

    assert len(model.nets_) == 3 and len(seen) == 3 and len(model.alone_nets_["poster"]) == 3
    # The folds partition the pooled rows; each member trains on the other two folds only.
    assert sum(len(held) for _, held in seen) == len(table)
    assert all(len(trained) + len(held) == len(table) for trained, held in seen)
    # Thresholds are tuned on every pooled row's out-of-fold probability, not on the validation rows alone.
    assert tuned["y"].shape == (len(table), len(genres)) and np.isfinite(tuned["p"]).all()
    np.testing.assert_array_equal(np.sort(tuned["y"], axis=0), np.sort(labels, axis=0))


def test_fusion_gmu_cross_fits_only_where_the_validation_movies_are_few(session_tiny_labelled):
    table, labels, _ = session_tiny_labelled  # 60 movies, given as validation rows
    model = create_model("fusion-gmu")
    assert model.cross_fit_below == 1300 and model.cross_fits((table, labels))
    assert not model.set_params(cross_fit_below=60).cross_fits((table, labels))
    assert model.set_params(cross_fit_below=61).cross_fits((table, labels))
    assert not model.set_params(ensemble=1).cross_fits((table, labels))  # one member: no folds to cross-fit
    assert not model.set_params(ensemble=3).cross_fits(None)
    assert not model.cross_fits((table.subset(np.zeros(len(table), dtype=bool)), labels[:0]))
    assert create_model("fusion-gmu-no-cross-fit").cross_fit_below == 0


def test_cross_fitted_description_thresholds_read_each_pooled_description_alone_and_the_refit_every_row(
        session_tiny_labelled, monkeypatch):
    from moviegenre.evaluation import metrics
    from moviegenre.training import lightning

    table, labels, genres = session_tiny_labelled
    train, val = np.arange(0, 45), np.arange(45, len(table))  # pooled in this order: the table's rows
    trained = []  # (fusion, rows, validated) of each network, in training order
    fit_network = lightning.fit_network

    def spy(net, train_set, val_set, config, **options):
        trained.append((net.fusion, len(train_set), val_set is not None))
        return fit_network(net, train_set, val_set, config, **options)

    tuned = []  # (labels, probabilities) of each tuning: the shared thresholds', then the description's own
    tune_thresholds = metrics.tune_thresholds
    monkeypatch.setattr(lightning, "fit_network", spy)
    monkeypatch.setattr(metrics, "tune_thresholds",
                        lambda y, p, **options: tuned.append((y, p)) or tune_thresholds(y, p, **options))
    model = fast_model("fusion-gmu").set_params(ensemble=3, cross_fit=True).fit(
        table.subset(train), labels[train], validation=(table.subset(val), labels[val]), genres=genres)

    (shared_y, shared_p), (alone_y, alone_p) = tuned
    described = table.has_description
    np.testing.assert_array_equal(shared_y, labels)
    np.testing.assert_array_equal(alone_y, labels[described])
    # Out of fold too, but each description read without its poster and title.
    with_poster = table.has_poster[described]
    assert with_poster.any() and np.isfinite(alone_p).all()
    assert not np.allclose(alone_p[with_poster], shared_p[described][with_poster])
    assert model.description_shift_.shape == (len(genres),)
    # Three fold members early-stopped on their folds, then each network trained again on every pooled row.
    members = [entry for entry in trained if entry[0] == "gmu"]
    assert [validated for _, _, validated in members] == [True] * 3 + [False] * 3
    assert all(rows < len(table) for _, rows, _ in members[:3])
    assert all(rows == len(table) for _, rows, _ in members[3:])
    assert model.refit_rows_ == len(val)


def test_descriptions_alone_from_features_score_as_the_table_given_descriptions_alone(session_tiny_labelled):
    # Cross-fitting reads each held-out description alone from the features it already has; the validation path
    # reads movies.with_inputs("description"). Both must give the model the same rows.
    from moviegenre.models.embedding import _descriptions_alone

    table, labels, genres = session_tiny_labelled
    train, val = np.arange(0, 45), np.arange(45, len(table))
    model = fast_model("fusion-gmu").set_params(ensemble=2).fit(
        table.subset(train), labels[train], validation=(table.subset(val), labels[val]), genres=genres)
    held = table.subset(val)
    features = model.features(held)
    features["poster_text"] = model.poster_text_vectors(model._training_poster_texts(held, False))
    described, alone, texts = _descriptions_alone(features, held.descriptions)
    assert held.has_poster[described].any() and held.has_title[described].any()
    np.testing.assert_array_equal(
        model._blend(model.nets_, model.alone_nets_, model.word_models, alone, texts),
        model.predict_proba(held.with_inputs("description")))


@pytest.mark.parametrize("cross_fit", [False, True])
def test_a_second_fit_tunes_the_description_thresholds_as_a_first_one_does(session_tiny_labelled, cross_fit,
                                                                            monkeypatch):
    """The description's shift is applied to the probabilities its thresholds are tuned on: an earlier fit's must not
    move them (the validation rows', or the out-of-fold ones)."""
    from moviegenre.evaluation import metrics

    monkeypatch.setattr(metrics, "MIN_POSITIVES_FOR_OWN_THRESHOLD", 2)  # the tiny table's genres are all rare
    table, labels, genres = session_tiny_labelled
    train, val = np.arange(0, 45), np.arange(45, len(table))

    def fit(model):
        return model.fit(table.subset(train), labels[train], validation=(table.subset(val), labels[val]),
                         genres=genres)

    model = fit(fast_model("fusion-gmu").set_params(ensemble=2, cross_fit=cross_fit, cross_fit_below=0))
    first = model.thresholds_.copy(), model.description_shift_.copy()
    assert np.abs(first[1]).max() > 0 and model.cross_fitted_ == cross_fit
    fit(model)
    np.testing.assert_array_equal(model.thresholds_, first[0])
    np.testing.assert_array_equal(model.description_shift_, first[1])


def test_a_refit_trains_every_network_again_on_all_rows_for_its_chosen_epochs_and_keeps_the_thresholds(
        session_tiny_labelled, monkeypatch):
    from moviegenre.training import lightning

    table, labels, genres = session_tiny_labelled
    train, val = np.arange(0, 45), np.arange(45, len(table))
    trained = []  # (fusion, rows, validated, max_epochs, best_epochs_) of each network, in training order
    fit_network = lightning.fit_network

    def spy(net, train_set, val_set, config, **options):
        net = fit_network(net, train_set, val_set, config, **options)
        trained.append((net.fusion, len(train_set), val_set is not None, config.max_epochs,
                        getattr(net, "best_epochs_", None)))
        return net

    monkeypatch.setattr(lightning, "fit_network", spy)
    config = TrainConfig(max_epochs=4, patience=1, batch_size=16, progress=False)

    def fit(refit: bool):
        # cross_fit_below 0: so few validation movies would cross-fit it, and this refit is of a model they tuned
        return fast_model("fusion-gmu").set_params(ensemble=2, refit=refit, cross_fit_below=0, config=config).fit(
            table.subset(train), labels[train], validation=(table.subset(val), labels[val]), genres=genres)

    plain = fit(False)
    first = list(trained)
    trained.clear()
    refitted = fit(True)
    assert trained[:len(first)] == first and len(trained) == 2 * len(first)
    for (fusion, rows, _, _, best), (again, all_rows, validated, epochs, _) in zip(first, trained[len(first):]):
        assert again == fusion and not validated and epochs == best and 1 <= best <= 4 and all_rows >= rows
        if fusion == "gmu":  # the fusion members learn from every row; the single-input networks from theirs
            assert all_rows == len(table)
    assert refitted.words_.vectorizers_[0].vocabulary_ != plain.words_.vectorizers_[0].vocabulary_  # the word models too
    # The thresholds and the description's own shift stay those the validation rows chose.
    np.testing.assert_array_equal(refitted.thresholds_, plain.thresholds_)
    np.testing.assert_array_equal(refitted.description_shift_, plain.description_shift_)
    assert not np.allclose(refitted.predict_proba(table), plain.predict_proba(table))


def test_title_words_are_read_only_where_a_row_has_a_title_and_never_for_a_use_other_than_any(session_tiny_labelled,
                                                                                              tmp_path):
    table, labels, genres = session_tiny_labelled
    model = fast_model("fusion-gmu").set_params(title_weight=0.3).fit(table, labels, genres=genres)
    assert model.title_words_ is not None
    untitled = table.subset(np.arange(len(table)))
    untitled.frame.loc[::2, "title"] = ""
    titled, partly = model.predict_proba(table), model.predict_proba(untitled)
    head_only = model.set_params(title_weight=0.0).predict_proba(table)
    model.set_params(title_weight=0.3)
    np.testing.assert_array_equal(partly[::2], head_only[::2])  # no title: the title model is not read
    np.testing.assert_array_equal(partly[1::2], titled[1::2])
    assert np.abs(titled - head_only).max() > 0
    for use in ("poster", "description", "both"):
        assert not table.with_inputs(use).has_title.any()
    assert table.with_inputs("any").has_title.all()
    np.testing.assert_allclose(load_model(model.save(tmp_path / "run")).predict_proba(table), titled, atol=1e-5)


def test_int8_weights_are_a_quarter_of_the_size_and_predict_alike(session_tiny_labelled, tmp_path):
    table, labels, genres = session_tiny_labelled
    model = fast_model("fusion-gmu").set_params(ensemble=1).fit(table, labels, genres=genres)
    probabilities = model.predict_proba(table)
    sizes = {}
    for precision in ("float32", "float16", "int8"):
        folder = model.save(tmp_path / precision, precision=precision)
        sizes[precision] = (folder / "model.safetensors").stat().st_size
        np.testing.assert_allclose(load_model(folder).predict_proba(table), probabilities, atol=0.02)
    assert sizes["int8"] < 0.3 * sizes["float32"] and sizes["int8"] < 0.6 * sizes["float16"]
    # A scale that does not fit its matrix is a damaged file, reported as such.
    from safetensors.numpy import load_file, save_file

    weights = tmp_path / "int8" / "model.safetensors"
    arrays = load_file(str(weights))
    scale = next(k for k in arrays if k.endswith(".int8_scale"))
    save_file({**arrays, scale: arrays[scale][:1]}, str(weights))
    with pytest.raises(ConfigError, match="damaged model files"):
        load_model(tmp_path / "int8")
    with pytest.raises(ConfigError, match="unknown precision 'int4'"):
        model.save(tmp_path / "int4", precision="int4")


def test_a_run_saved_before_a_parameter_existed_loads_with_it_off(session_tiny_labelled, tmp_path):
    table, labels, genres = session_tiny_labelled
    model = fast_model("fusion-gmu").set_params(ensemble=1, poster_net_weight=0.0,
                                                description_net_weight_with_poster=0.0).fit(table, labels, genres=genres)
    folder = model.save(tmp_path / "run")
    meta = json.loads((folder / "model.json").read_text())
    # as written before these parameters existed (fusion-gmu's presets: 0.5, 0.15)
    del meta["params"]["poster_net_weight"], meta["params"]["description_net_weight_with_poster"]
    (folder / "model.json").write_text(json.dumps(meta))
    loaded = load_model(folder)
    assert loaded.poster_net_weight == 0.0 and "poster" not in loaded.alone_nets_
    assert loaded.description_net_weight_with_poster == 0.0
    np.testing.assert_allclose(loaded.predict_proba(table), model.predict_proba(table), atol=1e-5)


def test_fusion_gmu_is_reproducible_whatever_drew_random_numbers_before(session_tiny_labelled):
    table, labels, genres = session_tiny_labelled
    first = fast_model("fusion-gmu").set_params(ensemble=2).fit(table, labels, genres=genres).predict_proba(table)
    torch.rand(1000)
    again = fast_model("fusion-gmu").set_params(ensemble=2).fit(table, labels, genres=genres).predict_proba(table)
    np.testing.assert_array_equal(first, again)


def test_a_text_only_table_trains_no_poster_network_and_loads_back(session_tiny_labelled, tmp_path, monkeypatch):
    table, labels, genres = session_tiny_labelled
    text_only = table.with_inputs("description")
    rows = table.has_description
    model = fast_model("fusion-gmu").set_params(ensemble=1).fit(text_only, labels[rows], genres=genres)
    assert model.poster_net_weight > 0 and "poster" not in model.alone_nets_ and not model.reads_poster_text
    loaded = load_model(model.save(tmp_path / "run"))
    assert set(loaded.alone_nets_) == {"description"}  # its description network only
    np.testing.assert_allclose(loaded.predict_proba(table), model.predict_proba(table), atol=1e-5)
    # It never learned the text on posters, so a poster given alone is not read by OCR for nothing.
    from moviegenre.features import poster_text

    def no_ocr(*args, **kwargs):
        raise AssertionError("OCR ran for a model that does not read poster text")

    monkeypatch.setattr(poster_text, "read_poster_texts", no_ocr)
    assert np.isfinite(loaded.predict_proba(table.with_inputs("poster"))).all()


def test_a_word_model_with_no_term_to_learn_is_one_line_alone_and_left_out_of_a_fusion_head(session_tiny_labelled,
                                                                                           tmp_path):
    from moviegenre.models.tfidf import TfidfLogReg

    table, labels, genres = session_tiny_labelled
    train, val = np.arange(0, 45), np.arange(45, len(table))
    # Titles that share no word: no term is in min_df (2) of them, scikit-learn's "After pruning, no terms remain".
    frame = table.frame.assign(title=[f"{chr(97 + i % 26)}{chr(97 + i // 26)}x{i}" for i in range(len(table))])
    titled = type(table)(frame, table.source)
    with pytest.raises(DataError, match=r"no title term is in 2 or more of the 45 training texts \(give more movies "
                                        r"with a title or set min_df to 1"):
        TfidfLogReg(column="title").fit(titled.subset(train), labels[train], genres=genres)  # as a fusion's
    with pytest.raises(DataError, match=r"no training movie has a description \(give more movies with a description\)"):
        untold = type(table)(table.frame.assign(description=""), table.source)
        create_model("tfidf-logreg").fit(untold.subset(train), labels[train], genres=genres)

    model = fast_model("fusion-gmu").fit(titled.subset(train), labels[train], genres=genres,
                                         validation=(titled.subset(val), labels[val]))
    assert model.title_words_ is None and model.words_ is not None  # the descriptions' words are still read
    loaded = load_model(model.save(tmp_path / "run"))
    np.testing.assert_allclose(loaded.predict_proba(titled), model.predict_proba(titled), atol=1e-5)
