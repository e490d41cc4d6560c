"""GRPO with the tiny Qwen2.5-Omni: media reach every forward, rows keep their own media, all four rewards run.

The judge answers from a replay file recorded here (the ``replay`` backend of the model-call layer).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from tests.helpers.tiny_omni import TINY_TRAINING_ARGS

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / "builder" / "sample" / "release"
# Two rollouts per prompt, different in reasoning and letter, so every reward varies within a group;
# the letters cycle A-D over rollouts, so groups alternate A/B and C/D and some rollouts are right.
CANNED = [
    "<think>\nStep 1: the clue points to Rachel on the left.\n</think>\n{letter}",
    "<think>\nStep 1: the clue points to Joey.\n</think>\n{letter}",
]


def test_trl_private_methods_are_as_pinned() -> None:
    """OmniGRPOTrainer overrides these trl 1.16 internals; an upgrade that changes them must fail here."""
    import trl
    from trl import GRPOTrainer

    assert trl.__version__.startswith("1.16."), "re-check training/grpo_trainer.py against the new trl"

    def params(name: str) -> list[str]:
        return list(inspect.signature(getattr(GRPOTrainer, name)).parameters)

    assert params("_tokenize_prompts") == ["self", "prompts"]
    assert params("_generate_and_score_completions") == ["self", "inputs"]
    assert params("_compute_loss") == ["self", "model", "inputs"]
    assert params("_calculate_rewards") == ["self", "inputs", "prompts", "completions", "completion_ids_list"]
    scoring = inspect.getsource(GRPOTrainer._generate_and_score_completions)
    assert "self._calculate_rewards(inputs, prompts, completions, completion_ids_list)" in scoring
    assert "self.reward_weights.to(device).unsqueeze(0)).nansum(dim=1)" in scoring  # a NaN sums as 0
    assert params("_get_per_token_logps_and_entropies")[:6] == [
        "self", "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size",
    ]  # fmt: skip
    assert "self._tokenize_prompts(prompts)" in inspect.getsource(GRPOTrainer._generate)
    assert "self._get_per_token_logps_and_entropies(" in inspect.getsource(GRPOTrainer._compute_loss)
    assert "shuffle_sequence_dict(generation_batch)" in inspect.getsource(GRPOTrainer._prepare_inputs)


def test_a_batch_without_reward_variance_is_warned_and_counted_in_the_card(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    import torch

    from training.grpo_trainer import RewardSignal

    signal = RewardSignal()
    with caplog.at_level("WARNING", logger="training.grpo_trainer"):
        signal.note(torch.zeros(8), step=1)  # e.g. a random model: every rollout earns 0
        signal.note(torch.tensor([0.5, -0.5, 0.0, 0.0]), step=2)  # one group split: a signal
    (warning,) = [record.getMessage() for record in caplog.records]
    assert warning.startswith("step 1: every group's rollouts got the same reward") and "no learning signal" in warning
    assert signal.summary() == "1 of 2 generation batches had no reward variance in any group (no signal)"

    from tests.test_adapter_card import _grpo_args, _trainer_with_log
    from training.publish import card_info

    trainer = _trainer_with_log([{"loss": 0.0, "step": 1}, {"loss": 0.0, "step": 2}], global_step=2)
    trainer.signal = signal
    args = _grpo_args(tmp_path, "--thinking_rewards", "false")
    card = card_info("grpo", trainer, *args, train_size=9)
    assert card.recipe["batches with a learning signal"] == "1 of 2 (the others: equal rewards in every group)"


def lora(rank: int = 8):
    from types import SimpleNamespace

    from training.modeling import lora_config

    return lora_config(SimpleNamespace(lora_r=rank, lora_alpha=16, lora_dropout=0.0, lora_target_modules=None))


@pytest.fixture(scope="module")
def start_adapter(tiny_omni_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter with non-zero weights standing in for the SFT adapter GRPO continues from."""
    import torch
    from peft import get_peft_model
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    torch.manual_seed(0)
    model = get_peft_model(Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir), lora())
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.05)
    folder = tmp_path_factory.mktemp("sft_adapter")
    model.save_pretrained(folder)
    return folder


class ScriptedJudge:
    """Scores by content: reasoning about Rachel earns points, reasoning about Joey gets an unparseable reply."""

    name = "scripted"
    calls = 0

    def generate(self, requests):
        from model_calls import ModelResponse

        self.calls += 1
        replies = []
        for request in requests:
            prompt = request.messages[0]["content"]
            good = "points to Rachel" in prompt
            text = ("4" if "REFERENCE" in prompt else "2") if good else "I would rather not say"
            replies.append(ModelResponse(key=request.key(), model=request.model, text=text))
        return replies


@pytest.fixture(scope="module")
def grpo_setup(tiny_omni_dir: Path, sample_tvqa_root: Path, start_adapter: Path, tmp_path_factory):
    """Parsed GRPO arguments for the tiny model, with a judge replay file recorded for the canned completions."""
    from model_calls.replay import RecordingBackend
    from training.data import DataSource, load_split
    from training.grpo import parse
    from training.rewards import CoherenceReward, ConsistencyReward

    work = tmp_path_factory.mktemp("grpo")
    rows = load_split(DataSource(release_dir=str(RELEASE), tvqa_root=str(sample_tvqa_root), cache_dir=str(work)))
    recording = work / "judge.jsonl"
    recorder = RecordingBackend(ScriptedJudge(), recording)
    columns = {name: rows[name] for name in ("id", "rationale", "task_name", "question")}
    for cls in (ConsistencyReward, CoherenceReward):
        reward = cls(recorder, "judge-model", {"max_tokens": 8})
        for text in (canned.format(letter=letter) for canned in CANNED for letter in "ABCD"):
            reward([text] * len(rows), **columns)
    recorder.close()

    def args(output: str, *extra: str):
        return parse(
            [
                "--model_name_or_path", str(tiny_omni_dir),
                "--base_model_id", "Qwen/Qwen2.5-Omni-7B",
                "--sft_adapter", str(start_adapter),
                "--release_dir", str(RELEASE),
                "--tvqa_root", str(sample_tvqa_root),
                "--data_cache_dir", str(work / "cache"),
                "--output_dir", str(work / output),
                "--num_train_instances", "9",
                "--per_device_train_batch_size", "4",
                "--num_generations", "2",
                "--max_completion_length", "8",
                "--learning_rate", "5e-3",
                "--judge_backend", "replay",
                "--judge_backend_kwargs", json.dumps({"path": str(recording)}),
                "--judge_model", "judge-model",
                "--judge_max_tokens", "8",
                *TINY_TRAINING_ARGS,
                *extra,
            ]
        )  # fmt: skip

    return args


def use_canned_completions(trainer) -> None:
    """Generate for real (media in ``generate``), then swap in canned completions: row i gets CANNED[i % 2]."""
    original = trainer._generate_single_turn
    tokenizer = trainer.processing_class.tokenizer
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")

    def generate(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        generated, logprobs = original(prompt_ids, images, multimodal_fields, num_generations, has_tool_images)
        assert len(generated) == len(prompt_ids)
        canned = [
            tokenizer(CANNED[i % 2].format(letter="ABCD"[i % 4]), add_special_tokens=False)["input_ids"] + [end]
            for i in range(len(generated))
        ]
        return canned, logprobs

    trainer._generate_single_turn = generate


def tower_calls(trainer):
    """Count the forwards of the audio tower and the vision tower (media that reach the model are encoded there)."""
    calls = {"audio": 0, "vision": 0}
    handles = []
    for name, module in trainer.model.named_modules():
        for tower, suffix in (("audio", ".audio_tower"), ("vision", ".visual")):
            if name.endswith(suffix):
                handles.append(module.register_forward_hook(lambda *_, t=tower: calls.__setitem__(t, calls[t] + 1)))
    assert len(handles) == 2
    return calls, handles


@pytest.mark.slow
def test_media_reach_every_forward_and_rows_keep_their_own(grpo_setup) -> None:
    import torch
    from trl.trainer.utils import shuffle_sequence_dict

    from training.encoding import OmniEncoder
    from training.grpo import build_trainer

    trainer, _ = build_trainer(*grpo_setup("pairing"))
    use_canned_completions(trainer)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which this test drives by hand
    inputs = [trainer.train_dataset[i] for i in range(4) for _ in range(2)]  # 4 prompts x 2 rollouts

    calls, handles = tower_calls(trainer)
    batch = trainer._generate_and_score_completions(inputs)
    assert calls["audio"] > 0 and calls["vision"] > 0, calls  # generation encoded the clips' audio and frames
    assert len(batch["omni_media"]) == 8

    torch.manual_seed(3)
    shuffled = shuffle_sequence_dict(batch)
    calls.update(audio=0, vision=0)
    loss = trainer._compute_loss(trainer.model, shuffled)
    assert torch.isfinite(loss) and calls["audio"] > 0 and calls["vision"] > 0, calls  # so did the loss forward
    for handle in handles:
        handle.remove()

    ids = torch.cat([shuffled["prompt_ids"], shuffled["completion_ids"]], dim=1)
    mask = torch.cat([shuffled["prompt_mask"], shuffled["completion_mask"]], dim=1)
    keep = shuffled["completion_ids"].size(1)

    def trainer_logps(media):
        trainer._media_in_flight = media
        try:
            with torch.no_grad():  # batch_size 3: chunks of 3, 3, 2 rows
                return trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, keep, batch_size=3)[0]
        finally:
            trainer._media_in_flight = None

    logps = trainer_logps(shuffled["omni_media"])

    # Each shuffled row, re-encoded from scratch from its own prompt, gives the same log-probs.
    fresh = OmniEncoder(trainer.processing_class, trainer.omni_encoder.preset)
    by_prompt = {tuple(fresh.encode(example["prompt"]).prompt_ids): example["prompt"] for example in inputs}
    assert len(by_prompt) == 4
    for row in range(8):
        prompt = shuffled["prompt_ids"][row][shuffled["prompt_mask"][row].bool()].tolist()
        completion = shuffled["completion_ids"][row][shuffled["completion_mask"][row].bool()].tolist()
        media = fresh.encode(by_prompt[tuple(prompt)]).media
        full = torch.tensor([prompt + completion])
        with torch.no_grad():
            logits = trainer.model(
                input_ids=full, attention_mask=torch.ones_like(full), use_audio_in_video=True, **media
            ).logits
        expected = torch.log_softmax(logits[0, len(prompt) - 1 : -1].float(), -1).gather(
            -1, torch.tensor(completion)[:, None]
        )
        torch.testing.assert_close(logps[row, : len(completion)], expected[:, 0], atol=1e-4, rtol=1e-4)

    # Silence the audio (or blank the frames): the log-probs move, so the loss really depends on them.
    silent = [{**m, "input_features": torch.zeros_like(m["input_features"])} for m in shuffled["omni_media"]]
    blank = [{**m, "pixel_values_videos": torch.zeros_like(m["pixel_values_videos"])} for m in shuffled["omni_media"]]
    assert not torch.allclose(trainer_logps(silent), logps)
    assert not torch.allclose(trainer_logps(blank), logps)

    def lora_grad(media) -> torch.Tensor:
        trainer.model.zero_grad()
        trainer._compute_loss(trainer.model, {**shuffled, "omni_media": media}).backward()
        return torch.cat([p.grad.flatten() for n, p in trainer.model.named_parameters() if p.grad is not None])

    assert not torch.allclose(lora_grad(shuffled["omni_media"]), lora_grad(silent))


@pytest.mark.slow
def test_grpo_two_steps_with_all_four_rewards(
    grpo_setup, tiny_omni_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd
) -> None:
    import math

    from tests.helpers.hub_cache import fake_hub_config
    from training import grpo

    hub_id = "crossomni-test/tiny-omni"  # made up: the fake Hub cache holds the tiny model's config under it
    fake_hub_config(monkeypatch, tmp_path / "hf", hub_id, json.loads((tiny_omni_dir / "config.json").read_text()))

    kept = {}
    original = grpo.build_trainer

    def build_with_canned(*args, **kwargs):
        trainer, size = original(*args, **kwargs)
        use_canned_completions(trainer)
        kept["trainer"] = trainer
        return trainer, size

    monkeypatch.setattr(grpo, "build_trainer", build_with_canned)
    script, train, model_args = grpo_setup(
        "run", "--max_steps", "2", "--log_completions", "true", "--base_model_id", hub_id
    )
    folder = grpo.main(script, train, model_args)
    trainer = kept["trainer"]
    # the completion tables go to a file, not between the loss lines
    table = (folder / "completions.log").read_text()
    assert "Rachel" in table and "Step" in table
    printed = capfd.readouterr().out
    assert "Rachel on the left" not in printed and "Step 1: the clue" not in printed

    steps = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(steps) == 2 and all(math.isfinite(float(s["loss"])) for s in steps)
    for step in steps:
        assert float(step["rewards/format_reward/mean"]) == 1.0
        assert 0.0 <= float(step["rewards/accuracy_reward/mean"]) <= 1.0
        # Only the Rachel rollouts are scored; the unparseable replies are no reward, not 0.
        assert float(step["rewards/consistency/mean"]) == pytest.approx(0.8)
        assert float(step["rewards/coherence/mean"]) == pytest.approx(2 / 3)
        assert float(step["judge/consistency/failure_rate"]) == pytest.approx(0.5)
    judged = {reward.__name__: reward.stats for reward in trainer.reward_funcs if hasattr(reward, "stats")}
    assert judged["consistency"].requested == 8 and judged["consistency"].failed == 4
    assert judged["coherence"].failed == 4 and "unparseable reply" in judged["coherence"].errors[0]
    assert any(float(s["grad_norm"]) > 0 for s in steps)

    card = (folder / "README.md").read_text()
    assert f"base_model: {hub_id}" in card and "license" not in card.split("---")[1]  # no licence known for it
    assert "| consistency | 1.0 |" in card and "| rollouts per prompt | 2 |" in card
    # 4 completions per step / 2 rollouts = 2 prompts per step, over 2 steps: 4 of the 9 sampled
    assert "| training prompts seen | 4 (2 optimizer steps; 9 sampled from the split) |" in card
    assert "| judge | judge-model (replay) |" in card  # the thinking rewards were on
    assert (
        "| start adapter | a local SFT adapter (path not published) |" in card and str(script.sft_adapter) not in card
    )
    losses = [float(s["loss"]) for s in steps]
    assert f"| first loss | {losses[0]:.4g} (step 1) |" in card and f"| last loss | {losses[1]:.4g} (step 2) |" in card
    assert (folder / "training_loss.png").is_file()
    assert (folder / "adapter_model.safetensors").is_file()


class ListedJudge:
    """A judge backend that replies with the given texts, in request order."""

    name = "listed"
    calls = 0

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)

    def generate(self, requests):
        from model_calls import ModelResponse

        assert len(requests) == len(self.replies)
        return [ModelResponse(key=r.key(), model=r.model, text=t) for r, t in zip(requests, self.replies, strict=True)]


@pytest.mark.slow
def test_a_failed_judge_leaves_the_advantage_as_if_it_were_absent(grpo_setup) -> None:
    """trl's own reward-to-advantage code on 2 groups of 4 rollouts; the judge fails on rollout 2 of group 1."""
    import types

    import torch
    from trl import GRPOTrainer

    from training.grpo import build_trainer
    from training.rewards import ConsistencyReward, accuracy_reward, format_reward

    trainer, _ = build_trainer(*grpo_setup("advantages", "--num_generations", "4", "--scale_rewards", "none"))
    use_canned_completions(trainer)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    inputs = [trainer.train_dataset[i] for i in range(2) for _ in range(4)]
    replies = ["4", "2", "I'd say 4 out of 5", "5", "1", "0", "4", "2"]  # the third reply is not a score
    judged = torch.tensor([0.8, 0.4, float("nan"), 1.0, 0.2, 0.0, 0.8, 0.4])

    def advantages(with_judge: bool) -> torch.Tensor:
        funcs = [format_reward, accuracy_reward]
        weights = [0.5, 2.0]
        if with_judge:
            funcs.append(ConsistencyReward(ListedJudge(replies), "judge-model"))
            weights.append(0.5)
        trainer.reward_funcs = funcs
        trainer.reward_func_names = [getattr(f, "__name__", type(f).__name__) for f in funcs]
        trainer.reward_processing_classes = [None] * len(funcs)
        trainer.reward_weights = torch.tensor(weights)
        return trainer._generate_and_score_completions(inputs)["advantages"]

    without = advantages(with_judge=False)
    assert without.abs().sum() > 0  # accuracy differs within the groups (canned letters alternate A, D)
    with_failure = advantages(with_judge=True)
    # The failed rollout's advantage is exactly the judge-free one.
    torch.testing.assert_close(with_failure[2], without[2])
    # Every other rollout also gets its judge score's deviation from the mean of the scores its group did get.
    group_means = torch.stack([judged[:4].nanmean(), judged[4:].nanmean()]).repeat_interleave(4)
    expected = without + 0.5 * torch.nan_to_num(judged - group_means, nan=0.0)
    torch.testing.assert_close(with_failure, expected)

    # Stock trl sums the failure as a 0: the failed rollout is pushed down by the judge's group mean.
    trainer._calculate_rewards = types.MethodType(GRPOTrainer._calculate_rewards, trainer)
    stock = advantages(with_judge=True)
    zeroed_mean = torch.nan_to_num(judged[:4], nan=0.0).mean()
    torch.testing.assert_close(stock[2], without[2] - 0.5 * zeroed_mean)
    assert not torch.isclose(stock[2], without[2])
