"""The producer: hands every observed Event occurrence to the shared raw topic, unchanged."""
