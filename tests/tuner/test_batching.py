"""Conversations answered together: each gets exactly the answer it would get alone, streamed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tuner.chat_format import chat_messages
from tuner.live_model import LiveModel
from tuner.static_decode import RESERVED

QUESTIONS = [
    "Which port does service 3 use?",
    "hello there, how are you",
    "What is the capital of France?",
    "Who owns the billing dashboard? It broke again after the deploy last night.",
    "ok",
    "Can you summarise the on-call rota for next week, please?",
]


def asked_while_busy(model: LiveModel, askers: list[Callable[[], object]]) -> None:
    """Runs each asker in its own thread while the model is busy (its lock held, as in a batch or
    a swap), so all their questions are waiting when it is free; returns when all are answered."""
    threads = [threading.Thread(target=asker) for asker in askers]
    with model._lock:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(model._queue) < len(threads):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    for t in threads:
        t.join()


@pytest.mark.parametrize("static", [False, True], ids=["generate", "own-loop"])
def test_concurrent_conversations_share_a_batch_and_get_their_own_answers(babbler: str, static: bool) -> None:
    """Also with tunebot's own decoding loop (static caches, the GPU's path), whose rows run a few
    tokens past the first end before the host sees it: each row is still cut at its own."""
    model = LiveModel(babbler, max_new_tokens=12, max_batch=8, static_cache=static)
    budgets = [12, 5, 12, 9, 12, 3]
    alone = [
        model.generate([{"role": "user", "content": q}], max_new_tokens=n)
        for q, n in zip(QUESTIONS, budgets, strict=True)
    ]
    assert len({a.text for a in alone}) == len(QUESTIONS) and all(a.text for a in alone)
    assert model.batch_sizes == {1: len(QUESTIONS)}

    answers: dict[int, str] = {}
    streamed: dict[int, list[str]] = {i: [] for i in range(len(QUESTIONS))}

    def ask(i: int) -> None:
        answer = model.generate(
            [{"role": "user", "content": QUESTIONS[i]}], max_new_tokens=budgets[i], on_text=streamed[i].append
        )
        answers[i] = answer.text

    # The model is busy (its lock held, as during a swap) while all six arrive: one batch of six.
    asked_while_busy(model, [lambda i=i: ask(i) for i in range(len(QUESTIONS))])
    assert model.batch_sizes[len(QUESTIONS)] == 1
    # Left-padded in one batch, cut at each one's own budget: the same greedy answers as alone.
    assert [answers[i] for i in range(len(QUESTIONS))] == [a.text for a in alone]
    for i, texts in streamed.items():
        # Streamed word by word: growing prefixes of the row's own answer, never another row's.
        assert len(texts) > 1 and texts[-1] == answers[i]
        assert all(answers[i].startswith(t) for t in texts)


def test_the_idle_worker_waits_only_while_others_keep_coming(
    babbler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Questions that keep coming, each within QUIET_SECONDS of the last, start together; one that
    comes alone waits QUIET_SECONDS, not GATHER_SECONDS. (Both stretched here: a second apart
    would be no test of who waits how long.)"""
    import tuner.live_model as live

    monkeypatch.setattr(live, "QUIET_SECONDS", 0.5)
    monkeypatch.setattr(live, "GATHER_SECONDS", 60.0)
    model = LiveModel(babbler, max_new_tokens=4, max_batch=8, static_cache=False)
    started = time.monotonic()
    alone = model.generate([{"role": "user", "content": QUESTIONS[0]}])
    assert alone.first_token_s is not None and alone.first_token_s >= 0.5  # it waited for others
    assert time.monotonic() - started < 30  # but not GATHER_SECONDS
    assert model.batch_sizes == {1: 1}

    answers: list[str] = []
    threads = [
        threading.Thread(
            target=lambda q=q: answers.append(model.generate([{"role": "user", "content": q}]).text)
        )
        for q in QUESTIONS[:3]
    ]
    for thread in threads:  # 0.1 s apart: each within QUIET_SECONDS of the one before
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join()
    assert len(answers) == 3 and model.batch_sizes == {1: 1, 3: 1}, model.batch_sizes


def test_more_conversations_than_a_batch_holds_wait_for_the_next(babbler: str, tmp_path: Path) -> None:
    model = LiveModel(babbler, max_new_tokens=4, max_batch=3)
    results: list[str] = []
    asked_while_busy(
        model,
        [
            lambda q=q: results.append(model.generate([{"role": "user", "content": q}]).text)
            for q in QUESTIONS[:5]
        ],
    )
    assert sorted(model.batch_sizes.elements()) == [2, 3] and len(results) == 5

    # Closing lets the answers asked for finish, then stops the worker; later questions are refused.
    late = threading.Thread(
        target=lambda: results.append(model.generate([{"role": "user", "content": "ok"}]).text)
    )
    with model._lock:
        late.start()
        while not model._queue:
            time.sleep(0.01)
        closer = threading.Thread(target=model.close)
        closer.start()
    closer.join(30)
    late.join(30)
    assert len(results) == 6 and model._worker is not None and not model._worker.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        model.generate([{"role": "user", "content": "ok"}])


@pytest.mark.parametrize("static", [False, True], ids=["generate", "own-loop"])
def test_a_newcomer_joins_an_answer_in_flight_and_neither_changes(babbler: str, static: bool) -> None:
    """A question arriving mid-answer joins after a few tokens (the answer so far is prefilled
    again with it) and gets its answer as soon as it ends; both are what they are alone."""
    model = LiveModel(babbler, max_new_tokens=200, static_cache=static)
    long_q = [{"role": "user", "content": QUESTIONS[3]}]
    short_q = [{"role": "user", "content": QUESTIONS[4]}]
    long_alone, short_alone = model.generate(long_q), model.generate(short_q, max_new_tokens=3)
    assert long_alone.tokens == 200 and model.batch_sizes == {1: 2}

    started = threading.Event()
    result: dict[str, object] = {}
    worker = threading.Thread(
        target=lambda: result.update(long=model.generate(long_q, on_text=lambda _: started.set()))
    )
    worker.start()
    assert started.wait(30)
    short = model.generate(short_q, max_new_tokens=3)
    short_done_while_long_ran = worker.is_alive()
    worker.join()
    assert short == short_alone and result["long"] == long_alone
    assert model.batch_sizes[2] == 1  # one round held both; the long answer went on alone after it
    assert short_done_while_long_ran


@pytest.mark.parametrize("static", [False, True], ids=["generate", "own-loop"])
def test_an_answer_ends_at_any_stop_token_the_model_names(babbler: str, tmp_path: Path, static: bool) -> None:
    """Families end a turn with their own token beside end-of-text (Gemma's <end_of_turn>, Llama 3's
    <|eot_id|>), named in generation_config.json's eos_token_id list: an answer stops at either."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from tuner.batching import DECODING
    from tuner.chat_format import chat_messages

    folder = tmp_path / "family"
    shutil.copytree(babbler, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    turns = [{"role": "user", "content": QUESTIONS[0]}]
    prompt = tokenizer.apply_chat_template(
        chat_messages(turns), add_generation_prompt=True, return_tensors="pt"
    )
    prompt = prompt["input_ids"] if hasattr(prompt, "input_ids") or isinstance(prompt, dict) else prompt
    with torch.inference_mode():
        output = AutoModelForCausalLM.from_pretrained(folder).generate(
            prompt, max_new_tokens=12, **DECODING, pad_token_id=tokenizer.pad_token_id
        )
    free = output[0, prompt.shape[1] :].tolist()
    at = next(i for i in range(3, len(free)) if free[i] not in free[:i])  # its first time
    GenerationConfig(
        eos_token_id=[tokenizer.eos_token_id, free[at]], pad_token_id=tokenizer.pad_token_id
    ).save_pretrained(folder)

    answer = LiveModel(str(folder), max_new_tokens=12, static_cache=static).generate(turns)
    assert answer.tokens == at
    assert answer.text == tokenizer.decode(free[:at], skip_special_tokens=True).strip()


def test_own_loop_newcomers_take_free_rows_in_place_or_start_a_new_round(babbler: str) -> None:
    """tunebot's own loop (the GPU's path): in a full-size batch, a newcomer is prefilled alone and
    takes the row of an ended answer while the others decode on (no round, no prompt prefilled
    again), a prompt much longer than the batch's own too (the batch's prompts end at column
    RESERVED); one whose prompt cannot fit before the batch's current column waits for a new round.
    Every answer is the one it gets alone."""
    model = LiveModel(babbler, max_new_tokens=120, max_batch=8, static_cache=True)
    first = [{"role": "user", "content": QUESTIONS[3]}], [{"role": "user", "content": QUESTIONS[5]}]
    short = [{"role": "user", "content": QUESTIONS[4]}]
    long = [{"role": "user", "content": " ".join(["the billing service broke again"] * 40)}]
    huge = [{"role": "user", "content": " ".join(["the billing service broke again"] * 130)}]
    # The batch's current column is RESERVED + 120 at most: longer than that never fits before it.
    assert len(model._tokens(chat_messages(long))) < RESERVED
    assert len(model._tokens(chat_messages(huge))) > RESERVED + 120
    alone = [model.generate(q) for q in first]
    short_alone = model.generate(short, max_new_tokens=5)
    long_alone = model.generate(long, max_new_tokens=5)
    huge_alone = model.generate(huge, max_new_tokens=5)
    assert model.batch_sizes == {1: 5} and model.joined == 0
    assert all(a.tokens == 120 for a in alone)  # both go on long after the newcomers

    answers: dict[str, object] = {}
    started = threading.Event()

    def ask(name: str, messages: list, **kwargs: object) -> None:
        answers[name] = model.generate(messages, **kwargs)  # type: ignore[arg-type]

    both = [
        threading.Thread(target=ask, args=(name, q), kwargs={"on_text": lambda _t: started.set()})
        for name, q in zip("ab", first, strict=True)
    ]
    with model._lock:  # both wait, then start as one batch (padded to eight rows)
        for t in both:
            t.start()
        while len(model._queue) < 2:
            time.sleep(0.01)
    assert started.wait(30)
    ask("short", short, max_new_tokens=5)  # joins in place and is answered while the two go on
    assert all(t.is_alive() for t in both) and model.joined == 1
    ask("long", long, max_new_tokens=5)  # five times the batch's prompts: in place too
    assert all(t.is_alive() for t in both) and model.joined == 2
    ask("huge", huge, max_new_tokens=5)  # longer than the columns before: a new round of three
    for t in both:
        t.join()
    assert [answers["a"], answers["b"]] == alone
    assert answers["short"] == short_alone and answers["huge"] == huge_alone
    assert answers["long"] == long_alone
    assert model.joined == 2 and model.batch_sizes[2] == 1 and model.batch_sizes[3] == 1, model.batch_sizes
