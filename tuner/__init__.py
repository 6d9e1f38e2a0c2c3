"""Training, evaluating and serving adapters: snapshots, QLoRA, the live model, the tune cycle."""
