"""The memory table of docs/models.md: its architectures add up to the models' published sizes,
and its training figure is the measured one where it was measured."""

from __future__ import annotations

import pytest

from tests.bench.model_memory import MEASURED_8B, SHAPES, training

PUBLISHED = [1.24e9, 3.21e9, 8.03e9, 14.7e9, 32.8e9, 70.6e9]  # the model cards' parameter counts


def test_the_shapes_have_their_published_sizes() -> None:
    for shape, published in zip(SHAPES, PUBLISHED, strict=True):
        assert shape.params() == pytest.approx(published, rel=0.01), shape.name


def test_training_is_calibrated_on_the_measured_8b_peak_and_grows_with_size() -> None:
    peak, tokens = MEASURED_8B
    assert training(SHAPES[2], tokens) == pytest.approx(peak)
    figures = [training(shape, 2048) for shape in SHAPES]
    assert figures == sorted(figures)
