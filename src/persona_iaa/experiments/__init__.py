"""Experiments over many runs: the paper's tables reproduced with seeds and paired statistics."""
