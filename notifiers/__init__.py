"""The notifiers: one consumer group per receiver, delivering incidents within each vendor's limits."""
