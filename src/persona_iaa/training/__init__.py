"""Training: the two-stage protocol, losses and model files."""
