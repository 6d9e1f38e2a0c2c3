"""Fixed-shape decoding (what a GPU compiles): the same answers as the growing cache, one compile
per batch size at start, and none again however many adapters are swapped in and out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.tuner.test_batching import QUESTIONS as BATCH_QUESTIONS
from tests.tuner.test_batching import asked_while_busy
from tuner.live_model import LiveModel
from tuner.static_decode import CHUNK, RESERVED, TUNED, StaticDecoding, compile_arguments

QUESTIONS = [q for q in BATCH_QUESTIONS if len(q) < 30 or "billing" in q]  # four of them


def _adapter(base: str, folder: Path, seed: int) -> str:
    """A LoRA adapter with random (non-zero) weights on every attention and MLP projection."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft = get_peft_model(model, LoraConfig(r=4, target_modules=targets, init_lora_weights=False))
    peft.save_pretrained(folder)
    return str(folder)


def _ask_together(model: LiveModel, questions: list[str]) -> list[str]:
    """Every question queued while the model is busy, so they are answered as one batch."""
    answers: dict[int, str] = {}

    def ask(i: int) -> None:
        answers[i] = model.generate([{"role": "user", "content": questions[i]}]).text

    asked_while_busy(model, [lambda i=i: ask(i) for i in range(len(questions))])
    return [answers[i] for i in range(len(questions))]


def _ask_each(model: LiveModel, questions: list[str]) -> list[str]:
    return [model.generate([{"role": "user", "content": q}]).text for q in questions]


def test_static_caches_answer_as_the_growing_cache_does(babbler: str) -> None:
    """tunebot's own decoding loop (the step the GPU compiles) answers token for token as
    transformers' generate does, alone and batched, over several of its chunks."""
    growing = LiveModel(babbler, max_new_tokens=3 * CHUNK + 5, static_cache=False)
    static = LiveModel(babbler, max_new_tokens=3 * CHUNK + 5, static_cache=True, max_batch=8)
    expected = _ask_each(growing, QUESTIONS)
    assert len(set(expected)) == len(QUESTIONS)
    assert _ask_each(static, QUESTIONS) == expected
    # Four conversations padded to a batch of eight with copies of the last: the same answers.
    assert _ask_together(static, QUESTIONS) == expected
    assert static.batch_sizes[len(QUESTIONS)] == 1
    assert static._static is not None and sorted(static._static._buffers) == [1, 8]


def test_rounds_longer_than_the_cache_use_the_growing_cache(babbler: str) -> None:
    from transformers import AutoConfig

    decoding = StaticDecoding(_Model(AutoConfig.from_pretrained(babbler)), 8, tokens=64)
    assert decoding.length == 64 and decoding.sizes == [1, 8]
    assert [decoding.rows_for(n) for n in (1, 2, 5, 8)] == [1, 8, 8, 8]
    assert decoding.fits(3, 64) and not decoding.fits(3, 65) and not decoding.fits(9, 10)

    model = LiveModel(babbler, max_new_tokens=12, static_cache=True)
    assert model._static is not None
    expected = _ask_each(model, QUESTIONS)
    model._static.length = 20  # shorter than every prompt with its answer
    assert _ask_each(model, QUESTIONS) == expected


class _Model:
    def __init__(self, config: Any) -> None:
        self.config = config


def test_compiled_once_per_batch_size_and_never_again_across_swaps(babbler: str, tmp_path: Path) -> None:
    """A GPU compiles with inductor and CUDA graphs; here a backend that counts the graphs dynamo
    hands it stands in (the same tracing and guards: any recompile would be counted)."""
    from transformers import CompileConfig

    graphs: list[int] = []

    def counting_backend(graph: Any, inputs: Any) -> Any:
        graphs.append(len(graph.graph.nodes))
        return graph.forward

    config = CompileConfig(backend=counting_backend, mode=None, dynamic=False)
    config._compile_all_devices = True  # transformers compiles on a GPU only, unless asked
    adapters = [_adapter(babbler, tmp_path / f"lora-{seed}", seed) for seed in (1, 2)]
    model = LiveModel(babbler, max_new_tokens=12, max_batch=8, compile_config=config)
    assert model._static is not None  # on: a compile config asks for it
    base = _ask_each(model, QUESTIONS)  # waits for the warm-up the worker starts with
    assert model.warm_up_seconds is not None and len(graphs) == 2  # a batch of one, a batch of eight
    assert _ask_together(model, QUESTIONS) == base

    answers: dict[str, list[str]] = {}
    for version, path in (("v1", adapters[0]), ("v2", adapters[1]), ("base", None), ("v1", adapters[0])):
        model.swap(path, version)
        answered = _ask_each(model, QUESTIONS)
        assert answers.setdefault(version, answered) == answered  # v1 again: v1's answers again
        assert _ask_together(model, QUESTIONS) == answered
    assert answers["base"] == base and answers["v1"] != base and answers["v2"] not in (base, answers["v1"])
    assert len(graphs) == 2, "a swap made dynamo compile again"


def test_a_given_system_turn_is_context_the_penalty_does_not_count(
    babbler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The team's answers from answer memory come as a system turn: the repetition penalty skips
    its tokens (a port or a name in them may be repeated) and counts the conversation's, in
    transformers' generate and in the own loop, alone and batched beside rows without one. (A
    penalty of 1.1 hardly moves a random model's flat scores: a strong one shows what is counted.)"""
    import torch
    from transformers import AutoModelForCausalLM, RepetitionPenaltyLogitsProcessor

    import tuner.static_decode
    from tuner.batching import DECODING

    monkeypatch.setitem(DECODING, "repetition_penalty", 50.0)
    monkeypatch.setattr(tuner.static_decode, "REPETITION_PENALTY", 50.0)
    new = 2 * CHUNK + 3
    growing = LiveModel(babbler, max_new_tokens=new, static_cache=False)
    static = LiveModel(babbler, max_new_tokens=new, static_cache=True, max_batch=8)
    # Context holding what the model says unprompted: counted, the penalty steers away from it.
    said = [growing.generate([{"role": "user", "content": q}]).text for q in QUESTIONS[:2]]
    system = {"role": "system", "content": "Team answers: " + " ".join(said)}
    conversations = [[system, {"role": "user", "content": q}] for q in QUESTIONS[:2]]
    conversations += [[{"role": "user", "content": q}] for q in QUESTIONS[2:]]
    expected = [growing.generate(c).text for c in conversations]
    assert [static.generate(c).text for c in conversations] == expected

    def together(model: LiveModel) -> list[str]:
        answers: dict[int, str] = {}

        def ask(i: int) -> None:
            answers[i] = model.generate(conversations[i]).text

        asked_while_busy(model, [lambda i=i: ask(i) for i in range(len(conversations))])
        return [answers[i] for i in range(len(conversations))]

    assert together(growing) == expected == together(static)

    reference = AutoModelForCausalLM.from_pretrained(babbler)
    system_tokens = growing._tokens([system])

    def reference_answer(conversation: list[dict[str, str]], skip: int) -> str:
        ids = torch.tensor([growing._tokens(conversation, add_generation_prompt=True)])
        assert ids[0, :skip].tolist() == system_tokens[:skip]
        penalty = RepetitionPenaltyLogitsProcessor(50.0, prompt_ignore_length=skip)
        out = reference.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=new,
            do_sample=False,
            logits_processor=[penalty],
        )
        return str(growing._tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)).strip()

    skip = len(system_tokens) - 1  # the template's closing token is shared too, at most
    assert [reference_answer(c, skip) for c in conversations[:2]] == expected[:2]
    assert [reference_answer(c, 0) for c in conversations[:2]] != expected[:2]  # counting the context


def test_the_copy_bias_repeats_answer_memorys_answers_in_both_loops(babbler: str) -> None:
    """Answer memory's answers with a copy bias: after each of their tokens, the one that followed it
    there gets the bias. A strong one makes a random model say the team's answer word for word (a
    weak one, as shipped, only tips close calls); transformers' generate with batching.CopyBias and
    the own loop agree, alone and batched beside rows without one (which answer as before)."""
    new = 2 * CHUNK + 3
    growing = LiveModel(babbler, max_new_tokens=new, static_cache=False)
    static = LiveModel(babbler, max_new_tokens=new, static_cache=True, max_batch=8)
    team = "The billing service listens on port 8443 behind the envoy sidecar."
    plain = [[{"role": "user", "content": q}] for q in QUESTIONS]
    unbiased = [growing.generate(c).text for c in plain]
    assert team not in unbiased

    def answers(model: LiveModel, bias: float, together: bool = False) -> list[str]:
        def ask(i: int) -> str:
            copy = [team] if i < 2 else []  # two rows copy, the others answer as ever
            return model.generate(plain[i], copy_from=copy, copy_bias=bias).text

        if not together:
            return [ask(i) for i in range(len(plain))]
        found: dict[int, str] = {}
        asked_while_busy(model, [lambda i=i: found.__setitem__(i, ask(i)) for i in range(len(plain))])
        return [found[i] for i in range(len(plain))]

    strong = answers(growing, 100.0)
    assert [a.startswith(team) for a in strong] == [True, True] + [False] * (len(plain) - 2), strong
    assert strong[2:] == unbiased[2:]
    assert answers(static, 100.0) == strong == answers(static, 100.0, together=True)
    assert answers(growing, 100.0, together=True) == strong
    weak = answers(growing, 0.5)
    assert answers(static, 0.5) == weak == answers(static, 0.5, together=True)


class _OneNewcomer:
    """Hands `row` to one newcomer once the round is under way (batching's part, reduced to that)."""

    def __init__(self, row: int, ids: list[int], budget: int) -> None:
        self.newcomer = (row, ids, budget, 0, ([], 0.0))
        self.at: int | None = None
        self.asked = 0

    def end_round(self, steps: int) -> bool:
        return False

    def wanted(self) -> bool:
        self.asked += 1
        return self.at is None and self.asked > 2  # after two chunks

    def admit(self, column: int) -> list[Any]:
        assert len(self.newcomer[1]) <= column
        self.at = column
        return [self.newcomer]


def test_a_round_attends_only_the_cache_columns_it_can_reach(babbler: str) -> None:
    """A round that ends within the cache's first columns attends only those: the same tokens as over
    the whole cache (fewer columns than the prompt's would change them: the count is what attention
    reads); a newcomer whose answer reaches further moves the round on to the whole cache, and gets
    the answer it gets alone."""
    import torch

    from tuner.chat_format import chat_messages

    budget = 3 * CHUNK + 5
    model = LiveModel(babbler, max_new_tokens=budget, static_cache=True, max_batch=2)
    static = model._static
    assert static is not None and static.columns == [static.length]  # the babbler's window: 1024
    prompts = sorted(
        (
            model._tokens(chat_messages([{"role": "user", "content": q}]), add_generation_prompt=True)
            for q in QUESTIONS
        ),
        key=len,
    )
    short, long = prompts[0], prompts[-1]
    assert len(short) < len(long)
    # A full batch's prompts end at RESERVED: its round ends at RESERVED + budget at most.
    bucket = RESERVED + budget
    static.columns = [bucket, static.length]
    attended: list[int] = []
    step = static._decode_step  # uncompiled here: the loop runs it as it is
    static._decode_step = lambda *args: (attended.append(args[-1]), step(*args))[1]  # type: ignore[method-assign]

    def decode(rows: list[list[int]], new_tokens: int, **kwargs: Any) -> list[dict[int, int]]:
        got: list[dict[int, int]] = [{} for _ in rows]

        def on_tokens(column: int, tokens: list[list[int]]) -> bool:
            for row, row_tokens in enumerate(tokens):
                got[row].update(enumerate(row_tokens, start=column))  # a column read again: the later
            return False

        ids = torch.tensor(rows)
        with torch.inference_mode():
            static.decode(ids, torch.ones_like(ids), new_tokens, on_tokens, **kwargs)
        return got

    def answer(got: dict[int, int], start: int, n: int) -> list[int]:
        return [got[column] for column in range(start, start + n)]

    whole = answer(decode([long], budget, columns=static.length)[0], len(long), budget)
    assert attended and set(attended) == {static.length}
    attended.clear()
    assert answer(decode([long], budget)[0], len(long), budget) == whole
    assert set(attended) == {bucket}
    assert answer(decode([long], budget, columns=len(long) // 2)[0], len(long), budget) != whole

    further = 2 * budget
    alone = answer(decode([short], further, columns=static.length)[0], len(short), further)
    attended.clear()
    joining = _OneNewcomer(1, short, further)
    both = decode([long, long], budget, joining=joining)
    assert joining.at is not None and joining.at + further > bucket
    assert answer(both[0], RESERVED, budget) == whole
    assert answer(both[1], joining.at, further) == alone
    assert attended[0] == bucket and attended[-1] == static.length


def test_only_the_batch_of_ones_step_over_the_first_columns_is_tuned(babbler: str) -> None:
    """Coordinate descent tuning (TUNED) is added to inductor's options for that one step, with
    the CUDA graphs its mode asked for; any other step, backend or mode compiles as configured."""
    import torch
    from transformers import AutoModelForCausalLM, CompileConfig

    graphs = CompileConfig(dynamic=False)  # the GPU's default: inductor, reduce-overhead
    assert graphs.backend == "inductor" and graphs.mode == "reduce-overhead"
    tuned = compile_arguments(graphs, tuned=True)
    assert tuned["mode"] is None and tuned["options"] == {"triton.cudagraphs": True, **TUNED}
    plain = compile_arguments(graphs, tuned=False)
    assert plain["mode"] == "reduce-overhead" and plain["options"] is None
    given = CompileConfig(dynamic=False, options={"triton.cudagraphs": False})
    assert compile_arguments(given, tuned=True)["options"] == {"triton.cudagraphs": False, **TUNED}
    autotune = CompileConfig(dynamic=False, mode="max-autotune")  # a mode of more options: kept as is
    assert compile_arguments(autotune, tuned=True)["mode"] == "max-autotune"
    assert compile_arguments(CompileConfig(backend="eager"), tuned=True)["options"] is None

    model = AutoModelForCausalLM.from_pretrained(babbler, dtype=torch.float32)
    decoding = StaticDecoding(model, 8, compile_config=CompileConfig(backend="eager"), tune_single=True)
    assert decoding.tuned == {(1, decoding.columns[0])}
    assert set(decoding._steps) == {(size, c) for size in (1, 8) for c in decoding.columns}
    assert StaticDecoding(model, 8, compile_config=graphs).tuned == set()  # off unless asked


def test_a_thread_that_did_not_import_cuda_graph_trees_gets_their_state() -> None:
    """The serving thread compiles the step after another thread imported CUDA graph trees (torchao
    does, quantizing FP8 weights): before torch 2.13 that thread had none of their state and the
    compiled step asserted (pytorch/pytorch#123177)."""
    import threading

    import torch._inductor.cudagraph_trees as trees

    from tuner.static_decode import cudagraph_state_in_this_thread

    seen: list[bool] = []

    def serving_thread() -> None:
        seen.append(hasattr(trees.local, "tree_manager_containers"))
        cudagraph_state_in_this_thread()
        seen.append(hasattr(trees.local, "tree_manager_containers"))
        trees.get_container(0)  # what asserted

    thread = threading.Thread(target=serving_thread)
    thread.start()
    thread.join()
    assert seen == [False, True]


def test_a_long_compile_says_it_is_still_working(caplog: pytest.LogCaptureFixture) -> None:
    """While the block runs a line comes every `every` seconds, and none once it has ended."""
    import logging
    import time

    from tuner.static_decode import still_working

    with caplog.at_level(logging.INFO, logger="tuner.static_decode"):
        with still_working("still compiling", every=0.1):
            time.sleep(0.45)
        during = [r.getMessage() for r in caplog.records if r.getMessage().startswith("still compiling")]
        time.sleep(0.3)
        after = [r.getMessage() for r in caplog.records if r.getMessage().startswith("still compiling")]
    assert 2 <= len(during) <= 4, during  # at 0.1, 0.2, 0.3, 0.4 s; a loaded machine may miss one
    assert after == during and during[0].endswith("s so far)")
