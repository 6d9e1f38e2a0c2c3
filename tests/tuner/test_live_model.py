"""Hot swap: answers in flight finish on the weights they started with; none fail."""

from __future__ import annotations

import threading

from tests.factories import seed_corrections
from tuner.cycle import TuneCycle
from tuner.live_model import LiveModel


def test_swaps_under_concurrent_answers_drop_nothing(runtime, policies) -> None:  # type: ignore[no-untyped-def]
    seed_corrections(runtime.db, 16)
    cycle = TuneCycle(runtime.db, policies, data_dir=runtime.data_dir, base_model=runtime.base_model_path)
    assert cycle.run("test").outcome == "promoted"
    adapter = str(next((runtime.data_dir / "adapters").glob("run-*")))

    model = LiveModel(runtime.base_model_path, max_new_tokens=4)
    turns = [{"role": "user", "content": "Which port does service 3 use?"}]
    base_answer = model.generate(turns)
    model.swap(adapter, "v1")
    adapted_answer = model.generate(turns)
    assert (base_answer.adapter_version, adapted_answer.adapter_version) == ("base", "v1")

    answers, errors = [], []

    def ask() -> None:
        try:
            for _ in range(6):
                answers.append(model.generate(turns))
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    askers = [threading.Thread(target=ask) for _ in range(3)]
    for t in askers:
        t.start()
    for i in range(6):
        model.swap(None if i % 2 == 0 else adapter, "base" if i % 2 == 0 else "v1")
    for t in askers:
        t.join()
    assert errors == [] and len(answers) == 18
    # Greedy decoding: each answer is exactly what its named weights produce.
    expected = {"base": base_answer.text, "v1": adapted_answer.text}
    assert all(a.text == expected[a.adapter_version] for a in answers)
