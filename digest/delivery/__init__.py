"""Delivery: plan one row per reader, send in batches through a backend, record every outcome."""
