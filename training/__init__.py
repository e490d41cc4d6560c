"""LoRA SFT and GRPO on CrossOmni with trl, adapters pushed to the Hub with model cards."""
