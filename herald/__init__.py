"""The ``herald`` command: one entry point that wires each stage's process."""
