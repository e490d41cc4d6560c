"""Routing requests to one engine per model, swapping local engines so each loads as few times as possible."""

from __future__ import annotations

import pytest

from builder.config import BuildConfig
from builder.pipeline import run_build
from builder.sample.scripted import ScriptedBackend
from model_calls import CachedBackend, ModelRequest, ModelResponse, ResponseCache
from model_calls.outputs import claim_output_dir
from model_calls.router import ModelRouter, routed_backend


class Named:
    def __init__(self, model: str, log: list[str]) -> None:
        self.model, self.log, self.name, self.calls = model, log, "named", 0

    def generate(self, requests):
        self.calls += 1
        return [ModelResponse(r.key(), r.model, text=f"{self.model}:{r.messages[0]['content']}") for r in requests]

    def close(self) -> None:
        self.log.append(f"closed {self.model}")


def ask(model: str, text: str) -> ModelRequest:
    return ModelRequest(model=model, messages=({"role": "user", "content": text},))


def test_router_keeps_order_and_swaps_engines() -> None:
    log: list[str] = []
    router = ModelRouter("fake", lambda model: Named(model, log), max_loaded=1)
    responses = router.generate([ask("a", "1"), ask("b", "2"), ask("a", "3")])
    assert [r.text for r in responses] == ["a:1", "b:2", "a:3"]
    assert router.loads == ["a", "b"] and log == ["closed a"] and list(router.live) == ["b"]
    router.generate([ask("b", "4")])
    assert router.loads == ["a", "b"] and router.calls == 3
    router.close()
    assert log == ["closed a", "closed b"] and router.calls == 3


def test_local_engines_take_their_model_from_the_models_yaml() -> None:
    with pytest.raises(ValueError, match="models come from the models YAML"):
        routed_backend("transformers", {"model": "x"}, {})


# The blind stage (text model, after verify) makes the text model come back after voice even for
# template QA; with the LLM generator it shares that load with qa, verify and rationale.
@pytest.mark.parametrize(
    ("qa", "loads"),
    [("template", ["caption", "text", "voice", "text"]), ("llm", ["caption", "text", "voice", "text"])],
)
def test_build_loads_each_model_as_few_times_as_possible(sample_tvqa_root, tmp_path, qa, loads) -> None:
    config = BuildConfig(tvqa_root=sample_tvqa_root, out=tmp_path, backend="scripted", qa_generator=qa, progress=False)
    router = ModelRouter("scripted", lambda model: ScriptedBackend(), max_loaded=1)
    claim_output_dir(tmp_path, "build")  # a build folder: the cache below sits where run_build puts it
    run_build(config, backend=CachedBackend(router, ResponseCache(tmp_path / "cache.sqlite")))
    role_of = {config.role(role).model: role for role in ("caption", "text", "voice")}
    assert [role_of[model] for model in router.loads] == loads
