"""Fixed-shape decoding: KV caches of one length, batches padded to a few sizes, so the decoding
step that transformers compiles for a static cache (torch.compile with CUDA graphs on a GPU) is
compiled once per batch size and then reused by every round, every conversation and every adapter
merged into the same weights.

transformers compiles the step when `generate` is handed a static cache on a GPU; a new cache
length or batch size would mean a new compile (about 30 s for an 8B model), so the caches here are
made once per batch size and reset between rounds. Rounds too long for the cache are answered
with transformers' ordinary growing cache instead (`arguments` returns None).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from tuner.batching import DECODING

log = logging.getLogger(__name__)

CACHE_TOKENS = 4096  # prompt and answer together; longer conversations are answered uncompiled


class StaticDecoding:
    """Static KV caches for batches of `sizes` rows (a batch is padded up to the next size)."""

    def __init__(self, model: Any, max_batch: int, *, compile_config: Any = None, tokens: int | None = None):
        window = int(getattr(model.config, "max_position_embeddings", CACHE_TOKENS))
        self.model = model
        self.length = min(window, tokens or CACHE_TOKENS)
        self.sizes = sorted({1, max_batch})
        self.compile_config = compile_config
        self._caches: dict[int, Any] = {}

    def rows_for(self, rows: int) -> int:
        """The padded batch size for `rows` conversations."""
        return next(size for size in self.sizes if size >= rows)

    def arguments(self, rows: int, tokens: int) -> tuple[int, dict[str, Any]] | None:
        """The padded row count and `generate`'s extra arguments for a round of `rows` conversations
        needing `tokens` positions (prompt and new tokens); None where the cache is too short.
        Call under torch.inference_mode (the caches are inference tensors)."""
        if tokens > self.length or rows > self.sizes[-1]:
            return None
        size = self.rows_for(rows)
        cache = self._caches.get(size)
        if cache is None:
            from transformers import StaticCache

            cache = self._caches[size] = StaticCache(config=self.model.config, max_cache_len=self.length)
        else:
            cache.reset()  # in place: the compiled step keeps reading the same memory
        extra: dict[str, Any] = {"past_key_values": cache}
        if self.compile_config is not None:
            extra["compile_config"] = self.compile_config
        return size, extra

    def warm_up(self, device: Any, token_id: int, steps: int = 4) -> float:
        """Compile (and, on a GPU, capture) the step for every batch size before the first answer:
        `steps` tokens from an 8-token prompt for each. Returns the seconds it took."""
        import torch

        log.info("compiling the decoding step for batches of %s (about a minute for an 8B model)", self.sizes)
        started = time.perf_counter()
        for size in self.sizes * 2:  # twice: on a GPU, the second pass replays what the first captured
            prepared = self.arguments(size, 8 + steps)
            assert prepared is not None
            ids = torch.full((size, 8), token_id, device=device)
            self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=steps,
                min_new_tokens=steps,  # every step runs: the compiled one is the second onwards
                **DECODING,
                pad_token_id=token_id,
                **prepared[1],
            )
        seconds = time.perf_counter() - started
        log.info("decoding step ready for batches of %s in %.1f s", self.sizes, seconds)
        return seconds
