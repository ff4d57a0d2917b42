"""Metrics and paper-shaped reports."""
from .metrics import aesthetic_metrics, personality_metrics

__all__ = ["aesthetic_metrics", "personality_metrics"]
