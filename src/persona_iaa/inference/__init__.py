"""Using a trained model: predictor, batched scoring engine, writers, export."""
