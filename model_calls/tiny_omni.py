"""A tiny random-weight Qwen2.5-Omni thinker with an offline-built processor: the offline try-out model.

``build_tiny_omni(out_dir)`` (``crossomni tiny-model --out DIR``) writes a folder that loads like a Hub
checkpoint of the thinker, so ``crossomni eval --model DIR``, ``crossomni train … --model_name_or_path DIR``,
the viewer and peft all run on it before any download::

    model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(out_dir)
    processor = AutoProcessor.from_pretrained(out_dir)

Nothing is downloaded: the tokenizer is a small byte-level BPE trained here on a frozen corpus
(``tiny_omni_corpus.jsonl``: the words of the prompts and of the embedded sample), the feature
extractor and image/video processors are built from their constructors, and the weights are random
(seeded, so two builds are identical). Its answers are junk: it shows that the pipeline runs, not how
well a model does. The processor's class-level default video size is large; callers that bypass
``model_calls.omni_inputs`` pass ``videos_kwargs=TINY_VIDEOS_KWARGS`` to keep the video token count small.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SEED = 1234
VOCAB_SIZE = 640
PATCH_SIZE = 14
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2
# min/max pixels of a resized frame: the sample's 96x64 frames become 84x56 (6 tokens per 2 frames).
MIN_PIXELS = 4 * (PATCH_SIZE * MERGE_SIZE) ** 2
MAX_PIXELS = 8 * (PATCH_SIZE * MERGE_SIZE) ** 2
TINY_VIDEOS_KWARGS = {"size": {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}}
CORPUS_FILE = Path(__file__).resolve().parent / "tiny_omni_corpus.jsonl"
CARD_FILE = "README.md"
CARD = """\
# Tiny random Qwen2.5-Omni thinker (CrossOmni offline try-out)

Written by `crossomni tiny-model`: the Qwen2.5-Omni thinker architecture (audio and vision towers, a 2-layer
language model of width 64) with **random weights** and a processor built offline. It answers junk: use it to
try `crossomni eval`, `crossomni view` and `crossomni train` before downloading a real model, never for numbers.

    from transformers import AutoProcessor, Qwen2_5OmniThinkerForConditionalGeneration
    model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained("{folder}")
    processor = AutoProcessor.from_pretrained("{folder}")
"""

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
    """Sentences for the BPE (frozen, so the tokenizer does not change when the sample is re-recorded)."""
    with open(CORPUS_FILE, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _build_tokenizer() -> Any:
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


def _build_processor() -> Any:
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


def _build_config(tokenizer: Any) -> Any:
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
    if head_dim // 2 != sum(config.text_config.rope_parameters["mrope_section"]):
        raise ValueError("mrope sections must sum to head_dim / 2")
    return config


def _check_target(out_dir: Path) -> None:
    """Refuse a folder holding anything but an earlier tiny model (nothing of the user's is overwritten)."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a folder")
    if any(out_dir.iterdir()) and not is_tiny_omni(out_dir):
        raise FileExistsError(f"{out_dir} is not empty and holds no tiny model: choose another --out")


def is_tiny_omni(folder: str | Path) -> bool:
    """Whether ``folder`` holds a model this module wrote (its card's first line says so)."""
    card = Path(folder) / CARD_FILE
    return card.is_file() and card.read_text(encoding="utf-8").startswith(CARD.splitlines()[0])


def build_tiny_omni(out_dir: str | Path) -> Path:
    """Build and save a tiny random Qwen2.5-Omni thinker + processor (+ a README saying so) into ``out_dir``."""
    import torch
    from transformers import GenerationConfig, Qwen2_5OmniThinkerForConditionalGeneration

    out_dir = Path(out_dir)
    _check_target(out_dir)
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
    (out_dir / CARD_FILE).write_text(CARD.format(folder=out_dir.as_posix()), encoding="utf-8")
    return out_dir
