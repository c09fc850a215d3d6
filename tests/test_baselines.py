"""The original design's models and the classic baselines: exact size, text cleaning, fit -> save -> load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moviegenre.data.genres import GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.errors import ConfigError
from moviegenre.models.base import load_model
from moviegenre.models.registry import create_model
from moviegenre.models.seed_cnn import SeedPosterNet
from moviegenre.models.seed_text import PACKAGED_GLOVE, SeedTokenizer, clean_text, glove_matrix
from moviegenre.training.losses import make_loss

FAST = {"config": {"max_epochs": 1, "progress": False}}


def test_seed_poster_cnn_has_the_original_size_for_20_genres():
    net = SeedPosterNet(20)
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    statistics = sum(b.numel() for name, b in net.named_buffers() if name.endswith(("running_mean", "running_var")))
    assert (trainable, statistics, trainable + statistics) == (2_496_276, 1_248, 2_497_524)


def test_seed_poster_cnn_maps_224_pixel_posters_to_one_logit_per_genre():
    net = SeedPosterNet(7).eval()
    with torch.inference_mode():
        logits = net(torch.randint(0, 256, (2, 3, 224, 224), dtype=torch.uint8))
    assert logits.shape == (2, 7)


def test_seed_poster_cnn_loss_weighs_positives_by_n_max_over_n_i():
    config = create_model("seed-poster-cnn", config={"batch_size": 8, "loss": "bce"}).train_config()
    assert (config.batch_size, config.lr, config.weight_decay, config.patience) == (100, 1e-3, 0.0, 20)
    weights = torch.tensor([1.0, 2.5, 40.0])  # n_max / n_i, as SeedPosterCNN passes them
    assert torch.equal(make_loss(config.loss, weights, config.pos_weight_power).pos_weight, weights)


def test_focal_loss_keeps_the_positive_weights_and_quiets_only_the_movies_already_right():
    weights = torch.tensor([1.0, 4.0])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    right, wrong = 4 * (2 * targets - 1), -4 * (2 * targets - 1)  # logits: confident, on either side
    bce, focal = make_loss("weighted-bce", weights, 1.0), make_loss("weighted-focal", weights, 1.0)
    assert torch.equal(focal.pos_weight, weights)
    assert focal(right, targets) < 0.01 * bce(right, targets)  # (1 - 0.98)^2 of each term
    assert focal(wrong, targets) > 0.9 * bce(wrong, targets)
    with pytest.raises(ConfigError, match="loss 'weighted-focal' needs class weights"):
        make_loss("weighted-focal", None, 1.0)


def test_focal_loss_on_smoothed_targets_still_quiets_the_easy_negatives():
    focal, negative = make_loss("weighted-focal", torch.ones(1), 1.0, smoothing=0.1), torch.tensor([[0.0]])
    easy, hard = focal(torch.tensor([[-6.0]]), negative), focal(torch.tensor([[6.0]]), negative)
    assert hard > 100 * easy  # a negative scored +6 is what the loss should be about, not one scored -6


def test_label_smoothing_scores_the_targets_pulled_toward_one_half():
    weights = torch.tensor([1.0, 4.0])
    logits, targets = torch.tensor([[2.0, -1.0], [0.5, 3.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    for name in ("weighted-bce", "weighted-focal", "asl", "bce"):
        plain, smoothed = make_loss(name, weights, 1.0), make_loss(name, weights, 1.0, smoothing=0.2)
        assert torch.allclose(smoothed(logits, targets), plain(logits, targets * 0.8 + 0.1)), name
    # Confidently right is no longer free: the network stops driving an unlisted genre's logit to minus infinity.
    sure = torch.tensor([[30.0, -30.0]])
    assert make_loss("bce", None, 1.0, smoothing=0.1)(sure, targets[:1]) > 1.0


@pytest.mark.parametrize("text, tokens", [
    ("The hero's journey: he RUNS 3 races!", ["hero", "journey", "run", "race"]),
    ("<b>Families</b> don't fight", ["famili", "dont", "fight"]),
    ("A café in Zürich", ["cafe", "zurich"]),
    ("", []),
])
def test_clean_text_drops_markup_digits_punctuation_and_stop_words_then_stems(text, tokens):
    assert clean_text(text) == tokens


def test_tokenizer_keeps_the_most_frequent_words_drops_common_ones_and_pads_like_keras():
    documents = [["love", "war", "kiss"], ["love", "war"], ["love", "kiss", "kiss"], ["love", "ship"]]
    tokenizer = SeedTokenizer(num_words=2, max_df=0.9).fit(documents)
    assert tokenizer.vocabulary_ == ["kiss", "war"]  # "love" is in every description; "ship" is third
    sequences = tokenizer.sequences([["war", "ship", "kiss"], ["kiss", "war", "war", "kiss"]])
    assert sequences == [[2, 1], [1, 2, 2, 1]]
    assert tokenizer.pad(sequences, 3).tolist() == [[0, 2, 1], [2, 2, 1]]  # zeros and cuts at the front


def test_glove_matrix_reads_the_packaged_vectors_and_a_glove_text_file(tmp_path):
    matrix = glove_matrix(PACKAGED_GLOVE, ["love", "famili"])
    assert matrix.shape == (3, 50)
    assert not matrix[0].any() and matrix[1].any() and not matrix[2].any()  # padding, word, stem GloVe lacks
    glove = tmp_path / "glove.6B.3d.txt"
    glove.write_text("love 0.1 0.2 0.3\nwar -1 0 1\n", encoding="utf-8")
    assert glove_matrix(str(glove), ["war", "kiss"]).tolist() == [[0, 0, 0], [-1, 0, 1], [0, 0, 0]]
    with pytest.raises(ConfigError, match="no such file"):
        glove_matrix(str(tmp_path / "missing.txt"), ["war"])


@pytest.fixture
def tiny(tiny_table_csv):
    table = read_table(tiny_table_csv)
    encoder = GenreEncoder(min_count=1, drop=()).fit(table.genres)
    return table, encoder.transform(table.genres), encoder.classes_


@pytest.mark.parametrize("name, params", [("seed-poster-cnn", FAST), ("seed-text-cnn-lstm", FAST),
                                          ("tfidf-logreg", {}), ("tfidf-nb-logreg", {})])
def test_model_fits_saves_and_loads_with_the_same_predictions(tiny, tmp_path, name, params):
    table, labels, genres = tiny
    train, validation = np.arange(45), np.arange(45, 60)
    model = create_model(name, **params).fit(table.subset(train), labels[train], genres=genres,
                                             validation=(table.subset(validation), labels[validation]))
    probabilities = model.predict_proba(table)
    assert probabilities.shape == labels.shape and ((probabilities >= 0) & (probabilities <= 1)).all()
    # A movie without the input the model reads gets the training genre rates.
    lacking = ~(table.has_poster if model.inputs == ("poster",) else table.has_description)
    assert np.allclose(probabilities[lacking], labels[train].mean(0), atol=1e-6)
    loaded = load_model(model.save(tmp_path / name))
    assert loaded.name == name and loaded.genres_ == genres
    assert np.allclose(loaded.predict_proba(table), probabilities, atol=1e-6)
    assert np.array_equal(loaded.thresholds_, model.thresholds_)


@pytest.mark.parametrize("name", ["seed-poster-cnn", "seed-text-cnn-lstm"])
def test_seed_models_are_reproducible_whatever_ran_before(tiny, name):
    table, labels, genres = tiny
    first = create_model(name, **FAST).fit(table, labels, genres=genres).predict_proba(table)
    torch.rand(7)  # anything that draws from the global generator in between
    second = create_model(name, **FAST).fit(table, labels, genres=genres).predict_proba(table)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", ["tfidf-logreg", "tfidf-nb-logreg"])
def test_tfidf_logreg_learns_genre_words(tiny, name):
    table, labels, genres = tiny
    model = create_model(name).fit(table, labels, genres=genres)
    probe = table.subset([0]).with_inputs("any")
    probe.frame.loc[0, "description"] = "a silly joke and a laugh"
    assert genres[int(np.argmax(model.predict_proba(probe)[0]))] == "Comedy"


def test_character_ngrams_read_words_spelt_as_no_training_text_spelt_them(tiny):
    table, labels, genres = tiny
    words = create_model("tfidf-logreg").fit(table, labels, genres=genres)
    characters = create_model("tfidf-nb-logreg").fit(table, labels, genres=genres)
    probe = table.subset([0]).with_inputs("any")
    probe.frame.loc[0, "description"] = "sillyjokes laughing"
    assert not words.vectorizers_[0].transform(probe.descriptions).nnz  # no word of it was seen in training
    assert genres[int(np.argmax(characters.predict_proba(probe)[0]))] == "Comedy"
