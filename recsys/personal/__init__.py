"""The per-user head: model, collaborative factors, serving, meta-training."""
