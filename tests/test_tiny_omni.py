"""The shared tiny Qwen2.5-Omni fixture: loads offline, and a real sample clip reaches the model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from model_calls.tiny_omni import SPECIAL_TOKEN_LIST, TINY_VIDEOS_KWARGS, build_tiny_omni

CLIP = "videos/friends_s01e01_seg02_clip_14.mp4"


def _clip_inputs(processor, clip: Path):
    """Frames and the 16 kHz audio track of one clip, through the processor audio-in-video style."""
    from torchcodec.decoders import AudioDecoder, VideoDecoder

    frames = VideoDecoder(str(clip)).get_frames_at(list(range(0, 24, 3))).data
    audio = AudioDecoder(str(clip), sample_rate=16_000).get_all_samples().data.mean(0).numpy()
    messages = [{"role": "user", "content": [{"type": "video", "video": str(clip)}, {"type": "text", "text": "Who?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return processor(
        text=[text],
        videos=[frames],
        audio=[audio],
        audio_from_video_indices=[0],
        load_audio_from_video=True,
        videos_kwargs=TINY_VIDEOS_KWARGS,
        return_tensors="pt",
    )


def test_round_trip_loads_offline_with_matching_ids(tiny_omni_dir: Path) -> None:
    from transformers import AutoProcessor, Qwen2_5OmniProcessor, Qwen2_5OmniThinkerForConditionalGeneration

    model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir)
    processor = AutoProcessor.from_pretrained(tiny_omni_dir)
    assert isinstance(processor, Qwen2_5OmniProcessor)
    assert isinstance(Qwen2_5OmniProcessor.from_pretrained(tiny_omni_dir), Qwen2_5OmniProcessor)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    tokenizer = processor.tokenizer
    for token in SPECIAL_TOKEN_LIST:
        assert len(tokenizer.encode(token, add_special_tokens=False)) == 1, token
    assert model.config.video_token_id == tokenizer.convert_tokens_to_ids("<|VIDEO|>")
    assert model.config.audio_token_id == tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    assert model.config.vision_start_token_id == tokenizer.convert_tokens_to_ids("<|vision_bos|>")
    assert model.generation_config.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert processor.feature_extractor.feature_size == 128


def test_build_is_deterministic(tiny_omni_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_omni(tmp_path / "again")
    for name in ("model.safetensors", "tokenizer.json"):
        first = hashlib.sha256((tiny_omni_dir / name).read_bytes()).hexdigest()
        assert first == hashlib.sha256((again / name).read_bytes()).hexdigest(), name


def test_forward_on_sample_clip_sees_video_and_audio(tiny_omni_dir: Path, sample_tvqa_root: Path) -> None:
    import torch
    from transformers import AutoProcessor, Qwen2_5OmniThinkerForConditionalGeneration

    model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir).eval()
    processor = AutoProcessor.from_pretrained(tiny_omni_dir)
    inputs = _clip_inputs(processor, sample_tvqa_root / CLIP)

    assert inputs["input_features"].shape[1] == 128
    # 8 s of speech: 800 real feature frames (the rest is Whisper's padding to 30 s).
    assert inputs["feature_attention_mask"].sum().item() == pytest.approx(800, abs=2)
    assert (inputs["input_ids"] == model.config.audio_token_id).sum() > 0
    assert (inputs["input_ids"] == model.config.video_token_id).sum() > 0
    assert inputs["pixel_values_videos"].shape[0] == int(inputs["video_grid_thw"].prod())

    def run(**overrides):
        with torch.no_grad():
            return model(**{**inputs, **overrides}, use_audio_in_video=True).logits

    logits = run()
    silent = run(input_features=torch.zeros_like(inputs["input_features"]))
    blank = run(pixel_values_videos=torch.zeros_like(inputs["pixel_values_videos"]))
    assert logits.shape[:2] == inputs["input_ids"].shape
    assert torch.isfinite(logits).all()
    # Both media reach the output: removing either one changes the logits.
    assert not torch.allclose(logits, silent)
    assert not torch.allclose(logits, blank)


def test_tiny_model_command_writes_a_loadable_folder_and_never_overwrites_a_foreign_one(tmp_path: Path) -> None:
    from transformers import AutoConfig
    from typer.testing import CliRunner

    from crossomni_cli import app
    from model_calls.tiny_omni import is_tiny_omni

    out = tmp_path / "tiny-omni"
    result = CliRunner().invoke(app, ["tiny-model", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert AutoConfig.from_pretrained(out).model_type == "qwen2_5_omni_thinker" and is_tiny_omni(out)
    assert "random weights" in (out / "README.md").read_text()
    again = CliRunner().invoke(app, ["tiny-model", "--out", str(out)])  # its own earlier output: rebuilt in place
    assert again.exit_code == 0, again.output

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    refused = CliRunner().invoke(app, ["tiny-model", "--out", str(mine)])
    assert isinstance(refused.exception, FileExistsError) and "not empty" in str(refused.exception)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
