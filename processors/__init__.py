"""The processors: validate, normalize, classify and turn occurrences into incidents."""
