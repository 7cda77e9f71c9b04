"""Fine-tuning: loading weights from earlier runs and from ClimaX checkpoints."""
