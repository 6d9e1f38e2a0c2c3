"""Training with the input embedding table in CPU memory (`training.embeddings_on_cpu`).

The table is frozen and only looked up: for the Llama-3-8B shape it is 128,256 x 4,096 bf16, about
1 GiB of GPU memory (a fifth of the 4-bit model), while a step looks up a few thousand rows. Moved
to the CPU, the lookup runs there and only the step's rows travel to the GPU. A model whose LM head
shares that table (tied embeddings, as SmolLM2's) keeps it where it is: the head needs it every step.
"""

from __future__ import annotations

from typing import Any


def keep_input_embeddings_on_cpu(model: Any) -> bool:
    """Move `model`'s input embeddings to CPU memory; their output goes on to the device (and dtype)
    the rest of the model computes in. False, and nothing changed, where the LM head shares them."""
    embeddings = model.get_input_embeddings()
    head = model.get_output_embeddings()
    if head is not None and head.weight is embeddings.weight:
        return False
    weight = embeddings.weight
    device, dtype = weight.device, weight.dtype
    embeddings.to("cpu")
    if device.type == "cuda":  # the automatic batch reads the GPU's free memory next
        import torch

        torch.cuda.empty_cache()

    def ids_to_cpu(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if module.weight.device.type != "cpu":
            # Moved back with the rest of the model after this function ran (seen on a GPU under
            # transformers 5.17's Trainer): return it to CPU memory. Counted for the benchmark.
            module.to("cpu")
            module.moved_back = getattr(module, "moved_back", 0) + 1
            if device.type == "cuda":
                import torch

                torch.cuda.empty_cache()
        return tuple(arg.to("cpu") if hasattr(arg, "to") else arg for arg in args)

    def rows_to_model(_module: Any, _args: tuple[Any, ...], output: Any) -> Any:
        return output.to(device=device, dtype=dtype)

    embeddings.register_forward_pre_hook(ids_to_cpu)
    embeddings.register_forward_hook(rows_to_model)
    return True
