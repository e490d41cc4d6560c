"""A tiny random Qwen2.5-Omni thinker and an offline-built processor, for CPU tests.

``build_tiny_omni(out_dir)`` writes a folder that loads like a Hub checkpoint::

    model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(out_dir)
    processor = AutoProcessor.from_pretrained(out_dir)

Nothing is downloaded: the tokenizer is a small byte-level BPE trained here on the sample's
words, the feature extractor/image/video processors are built from their constructors, and
the weights are random (seeded, so two builds are identical). The processor's own default
video size is large; pass ``videos_kwargs=TINY_VIDEOS_KWARGS`` when calling it (or through
``apply_chat_template(..., processor_kwargs={"videos_kwargs": TINY_VIDEOS_KWARGS})``) to keep
the video token count small.

In a test file: ``from tests.helpers.tiny_omni import tiny_omni_dir  # noqa: F401`` (it is
also imported by ``tests/conftest.py``), then take ``tiny_omni_dir`` as an argument.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SEED = 1234
VOCAB_SIZE = 640
PATCH_SIZE = 14
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2
# min/max pixels of a resized frame: the sample's 96x64 frames become 84x56 (6 tokens per 2 frames).
MIN_PIXELS = 4 * (PATCH_SIZE * MERGE_SIZE) ** 2
MAX_PIXELS = 8 * (PATCH_SIZE * MERGE_SIZE) ** 2
TINY_VIDEOS_KWARGS = {"size": {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}}

SPECIAL_TOKENS = {
    "eos_token": "<|im_end|>",
    "pad_token": "<|endoftext|>",
    "image_token": "<|IMAGE|>",
    "audio_token": "<|AUDIO|>",
    "video_token": "<|VIDEO|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
    "audio_bos_token": "<|audio_bos|>",
    "audio_eos_token": "<|audio_eos|>",
}
# Order fixes the ids: 0.. in this order, before the BPE merges.
SPECIAL_TOKEN_LIST = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|AUDIO|>",
    "<|audio_bos|>",
    "<|audio_eos|>",
    "<|vision_bos|>",
    "<|vision_eos|>",
    "<|IMAGE|>",
    "<|VIDEO|>",
]

# Same shape as Qwen2.5-Omni's template: media parts become bos/placeholder/eos triples.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif part['type'] == 'video' %}<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif part['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _training_corpus() -> list[str]:
    """Sentences for the BPE: the sample release's text plus prompt and rationale vocabulary."""
    import crossomni  # here: conftest imports this module, and the loader need not load with every test

    release = Path(__file__).resolve().parents[2] / "builder" / "sample" / "release"
    lines = [
        "You are a helpful assistant. Answer with the letter of the correct option.",
        "<think> Step 1: source audio, target vision. Step 2: Step 3: Step 4: </think> The answer is A.",
        "Options: A. B. C. D. Question: Biography: Think step by step, then give the letter.",
    ]
    for split in ("train", "test"):
        for _, record in crossomni.iter_jsonl(release / f"{split}.jsonl"):
            lines += [record["question"], record["biography"], record["rationale"], *record["options"]]
    return lines


def _build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKEN_LIST,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_training_corpus(), trainer=trainer)
    extra = {name: SPECIAL_TOKENS[name] for name in SPECIAL_TOKENS if name not in ("eos_token", "pad_token")}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=SPECIAL_TOKENS["eos_token"],
        pad_token=SPECIAL_TOKENS["pad_token"],
        additional_special_tokens=["<|im_start|>"],
        extra_special_tokens=extra,
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
    )


def _build_processor():
    from transformers import (
        Qwen2_5OmniProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
        WhisperFeatureExtractor,
    )

    size = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    common = {"patch_size": PATCH_SIZE, "merge_size": MERGE_SIZE, "temporal_patch_size": TEMPORAL_PATCH_SIZE}
    return Qwen2_5OmniProcessor(
        image_processor=Qwen2VLImageProcessor(size=size, **common),
        video_processor=Qwen2VLVideoProcessor(size=size, **common),
        feature_extractor=WhisperFeatureExtractor(feature_size=128, sampling_rate=16_000),
        tokenizer=_build_tokenizer(),
        chat_template=CHAT_TEMPLATE,
    )


def _build_config(tokenizer):
    from transformers import Qwen2_5OmniThinkerConfig

    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKEN_LIST}
    text_hidden, heads = 64, 4
    head_dim = text_hidden // heads
    config = Qwen2_5OmniThinkerConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": text_hidden,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": heads,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            # mrope sections (temporal, height, width) must sum to head_dim / 2.
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "pad_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "bos_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": False,
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "patch_size": PATCH_SIZE,
            "spatial_merge_size": MERGE_SIZE,
            "temporal_patch_size": TEMPORAL_PATCH_SIZE,
            "window_size": 112,
            "out_hidden_size": text_hidden,
            "fullatt_block_indexes": [1],
        },
        audio_config={
            "num_mel_bins": 128,
            "encoder_layers": 2,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "d_model": 32,
            "output_dim": text_hidden,
            "max_source_positions": 1500,
            "n_window": 100,
        },
        audio_token_index=ids["<|AUDIO|>"],
        image_token_index=ids["<|IMAGE|>"],
        video_token_index=ids["<|VIDEO|>"],
        audio_start_token_id=ids["<|audio_bos|>"],
        audio_end_token_id=ids["<|audio_eos|>"],
        user_token_id=tokenizer.convert_tokens_to_ids("user") if "user" in tokenizer.get_vocab() else 0,
    )
    # Read by get_rope_index but not a declared field of the config class.
    config.vision_start_token_id = ids["<|vision_bos|>"]
    config.vision_end_token_id = ids["<|vision_eos|>"]
    assert head_dim // 2 == sum(config.text_config.rope_parameters["mrope_section"])
    return config


def build_tiny_omni(out_dir: Path) -> Path:
    """Build and save a tiny random Qwen2.5-Omni thinker + processor into ``out_dir``; return it."""
    import torch
    from transformers import GenerationConfig, Qwen2_5OmniThinkerForConditionalGeneration

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    processor = _build_processor()
    tokenizer = processor.tokenizer
    config = _build_config(tokenizer)
    torch.manual_seed(SEED)
    model = Qwen2_5OmniThinkerForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        do_sample=False,
        max_new_tokens=16,
    )
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_omni_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny Qwen2.5-Omni thinker + processor folder (built once per session)."""
    return build_tiny_omni(tmp_path_factory.mktemp("tiny_omni"))


# Recipe overrides that keep a training run on the tiny model small and CPU-only (TrlParser syntax).
TINY_TRAINING_ARGS: list[str] = [
    "--video_fps", "1",
    "--max_frames", "8",
    "--video_min_pixels", str(MIN_PIXELS),
    "--video_max_pixels", str(MAX_PIXELS),
    "--bf16", "false",
    "--use_cpu", "true",
    "--activation_checkpointing", "false",
    "--report_to", "none",
    "--save_strategy", "no",
    "--logging_steps", "1",
    "--seed", "0",
]  # fmt: skip
