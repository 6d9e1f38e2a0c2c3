"""Training, evaluating and serving adapters: snapshots, QLoRA training, the live model, the cycle."""
