"""The memory table of docs/models.md: its architectures add up to the models' published sizes."""

from __future__ import annotations

import pytest

from tests.bench.model_memory import SHAPES

PUBLISHED = [1.24e9, 3.21e9, 8.03e9, 14.7e9, 32.8e9, 70.6e9]  # the model cards' parameter counts


def test_the_shapes_have_their_published_sizes() -> None:
    for (name, shape), published in zip(SHAPES, PUBLISHED, strict=True):
        assert shape.weights == pytest.approx(published, rel=0.01), name
