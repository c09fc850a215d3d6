"""A user's GloVe text file (``--param glove=PATH``) is checked while it is read, before any training: a damaged
line is one DataError naming the file, the 1-based line and what to do, never a traceback or a NaN model."""

from __future__ import annotations

import numpy as np
import pytest

from moviegenre.errors import DataError
from moviegenre.models.seed_text import glove_matrix

GOOD = ["love 0.1 0.2 0.3", "war -1 0 1", "kiss 0.5 0.5 0.5"]


def write(tmp_path, lines, name="glove.6B.3d.txt", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding) if isinstance(lines, list) else lines)
    return path


def refused(path, vocabulary=("love", "war", "kiss")) -> str:
    with pytest.raises(DataError) as caught:
        glove_matrix(str(path), list(vocabulary))
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e30", "-20000", "1e40"])
def test_non_finite_or_absurd_values_are_refused_with_their_line(tmp_path, value):
    message = refused(write(tmp_path, [*GOOD, f"hero 0.1 {value} 0.3"]), ["love", "hero"])
    assert "line 4" in message and "value 2 of 'hero'" in message and "fix or delete that line" in message


def test_real_glove_magnitudes_are_kept(tmp_path):
    matrix = glove_matrix(str(write(tmp_path, ["love 9.5 -4.25 9999"])), ["love"])
    assert matrix.tolist() == [[0, 0, 0], [9.5, -4.25, 9999]]


def test_a_non_numeric_value_is_refused_with_its_line(tmp_path):
    message = refused(write(tmp_path, [*GOOD[:1], "war -1 abc 1", *GOOD[2:]]))
    assert "line 2" in message and "value 2 of 'war' is 'abc', not a number" in message


def test_a_file_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    path = write(tmp_path, [*GOOD, "café 0.1 0.1 0.1", "hero 1 1 1"], encoding="latin-1")
    message = refused(path)
    assert "line 4 is not UTF-8" in message and "UTF-8" in message


@pytest.mark.parametrize("vocabulary", [("love", "war"), ("love",)])  # the short line's word wanted or not
def test_a_shorter_line_is_refused_with_its_line(tmp_path, vocabulary):
    message = refused(write(tmp_path, [*GOOD[:1], "war -1 0", *GOOD[2:]]), vocabulary)
    assert "line 2" in message and "'war' has 2 numbers, but the first vector line (1) has 3" in message


@pytest.mark.parametrize("vocabulary", [("love", "war"), ("war",)])
def test_a_longer_line_is_refused_with_its_line(tmp_path, vocabulary):
    message = refused(write(tmp_path, [*GOOD[:1], "war -1 0 1 2", *GOOD[2:]]), vocabulary)
    assert "line 2" in message and "'war' has 4 numbers" in message


def test_the_width_is_the_first_vector_lines(tmp_path):
    message = refused(write(tmp_path, ["love 0.1 0.2", *GOOD[1:]]))
    assert "line 2" in message and "first vector line (1) has 2" in message


LAYOUT = "each line is a word and the same count of numbers, separated by spaces"


@pytest.mark.parametrize(("at", "problem"), [
    (0, "line 1: 'hero' has no vector"),  # before any vector line: no width to compare with yet
    (1, "line 2: 'hero' has 0 numbers, but the first vector line (1) has 3"),
])
def test_a_word_without_a_vector_is_refused_with_its_line(tmp_path, at, problem):
    lines = list(GOOD)
    lines.insert(at, "hero")
    path = write(tmp_path, lines)
    assert refused(path, ["love", "hero"]) == f"{path}: {problem} (fix or delete that line: {LAYOUT})"


def test_tolerated_layouts_still_read(tmp_path):
    # a word2vec header, tabs, doubled spaces, a blank line, a CRLF ending and a word holding a space (GloVe 840B)
    lines = ["3 3", "love\t0.1\t0.2\t0.3", "war  -1 0 1", "", "at name@domain.com 7 7 7", "kiss 0.5 0.5 0.5\r"]
    matrix = glove_matrix(str(write(tmp_path, lines)), ["love", "war", "kiss", "at name@domain.com", "hero"])
    np.testing.assert_allclose(matrix, [[0, 0, 0], [0.1, 0.2, 0.3], [-1, 0, 1], [0.5, 0.5, 0.5], [7, 7, 7],
                                        [0, 0, 0]])
