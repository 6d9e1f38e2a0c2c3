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
    assert model.last_swap_parts["kept"] == "host"  # the base's weights, copied aside (no GPU here)
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

    # Two swaps to the same version at once (the cycle and the registry follower) leave it served.
    model.swap(None, "base")
    racers = [threading.Thread(target=model.swap, args=(adapter, "v1")) for _ in range(4)]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert model.generate(turns) == adapted_answer

    # A damaged adapter on disk is refused before the serving model is touched.
    import shutil

    import pytest

    from tuner.live_model import AdapterError

    damaged = runtime.data_dir / "damaged"
    shutil.copytree(adapter, damaged)
    weights = damaged / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    serving = model.version
    with pytest.raises(AdapterError, match="unusable"):
        model.swap(str(damaged), "v9")
    (damaged / "adapter_config.json").write_text("{not json")
    with pytest.raises(AdapterError, match="JSONDecodeError"):
        model.swap(str(damaged), "v9")
    answer = model.generate(turns)
    assert answer.adapter_version == serving and answer.text == expected[serving]
