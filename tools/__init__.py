"""Repository tooling that runs from the checkout (``python -m tools.<name>``); never installed."""
