"""The one package that knows faust-streaming's, aiokafka's and mode's insides.

The rest of ``processors/`` is plain Python over :class:`~processors.delivery.gaps.Record`
values, tables that behave as mappings and a publish function, so it reads without Faust and
is tested without a broker. What Faust does not offer publicly is reached from here only,
by names :mod:`processors.faustkit.guard` checks when the worker starts.
"""
