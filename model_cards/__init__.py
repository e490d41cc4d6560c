"""Dataset and adapter cards rendered from ``huggingface_hub`` card data and shipped Jinja templates."""
