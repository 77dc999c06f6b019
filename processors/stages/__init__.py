"""The processor's stages: plain classes over an injected table and publish function.

Faust hands them records (:mod:`processors.app` wires them to agents and timers); a unit test
hands them lists and dicts. What they decide is :mod:`processors.core`'s.
"""
