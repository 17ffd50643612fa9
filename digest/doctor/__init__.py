"""`digest doctor`: checks of a deployment before it hurts, one module per concern. Each check
says its state (ok, warning, error), what it found and how to fix it; `run.py` runs them in order."""
