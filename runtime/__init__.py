"""Shared runtime of every kube-herald process: configuration, Kafka clients, logging, redaction.

The producer, the processors and the notifiers may import this package and
``schemas``; never each other (an import-linter contract holds it).
"""
