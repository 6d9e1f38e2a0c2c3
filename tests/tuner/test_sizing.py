"""Automatic batch size: from the dataset's size and lengths, within the GPU's free memory."""

from __future__ import annotations

from transformers import LlamaConfig

from tuner.sizing import MAX_BATCH, MIN_BATCH, bytes_per_token, choose_batch_size, choose_epochs, token_budget


def test_small_datasets_keep_the_smallest_batch_and_large_ones_get_32_steps_an_epoch() -> None:
    assert choose_batch_size([100] * 35, None).batch_size == MIN_BATCH
    assert choose_batch_size([100] * 2000, None).batch_size == 2000 // 32
    assert choose_batch_size([100] * 100_000, None).batch_size == MAX_BATCH
    assert choose_batch_size([100] * 3, None).batch_size == 3  # never more than there are
    assert choose_batch_size([], None).batch_size == MIN_BATCH


def test_the_longest_examples_together_fit_the_token_budget() -> None:
    lengths = [50] * 1990 + [1000] * 10  # ten long examples could land in one step
    step = choose_batch_size(lengths, budget=5_000)
    assert step.batch_size == 5 and step.longest_step_tokens == 5_000
    assert choose_batch_size(lengths, budget=999).batch_size == 1  # one example always trains
    roomy = choose_batch_size(lengths, budget=1_000_000)
    assert roomy.batch_size == 62 and roomy.longest_step_tokens == 10 * 1000 + 52 * 50


def test_the_memory_estimate_follows_the_model_shape() -> None:
    llama_8b = LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32)
    per_token = bytes_per_token(llama_8b)
    # Measured on an H100 (docs/perf-notes.md): 0.66-0.88 MiB per token of a padding-free step.
    assert 0.8 * 2**20 < per_token < 0.9 * 2**20
    assert (
        bytes_per_token(LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=64))
        > per_token
    )
    # 70 GiB free: 10% and 2 GiB kept back, the rest in tokens.
    assert token_budget(70 * 2**30, per_token) == int((70 * 0.9 - 2) * 2**30 // per_token)
    assert token_budget(2**30, per_token) == 0


def test_epochs_shrink_as_the_dataset_grows() -> None:
    assert choose_epochs(35) == 8.0  # the learning benchmark's 27 examples + 8 replayed
    assert choose_epochs(250) == 8.0
    assert choose_epochs(500) == 4.0
    assert choose_epochs(2000) == choose_epochs(100_000) == 2.0
