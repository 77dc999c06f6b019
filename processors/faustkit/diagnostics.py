"""``kill -USR1`` a worker to log what it is waiting on: a stalled worker explains itself.

A worker that is assigned partitions, has finished recovery and still consumes nothing
looks idle from the outside. The dump names Faust's view (rebalancing, flow, active and
paused partitions), aiokafka's (each assigned partition's position, pause and reset
state) and every asyncio task's stack in both of the worker's event loops. It reads
private attributes of Faust and aiokafka on purpose, defensively: it is a diagnosis
aid, and a missing attribute prints as such instead of failing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

log = logging.getLogger(__name__)


def install(app: Any) -> None:
    """Log the dump on SIGUSR1; call from within the worker's running event loop."""
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGUSR1, lambda: log.warning("%s", describe(app), extra={"multiline": True})
    )


def describe(app: Any) -> str:
    consumer = app.consumer
    thread = getattr(consumer, "_thread", None)
    lines = [
        "worker state (SIGUSR1):",
        f"  rebalancing={app.rebalancing} generation={app.consumer_generation_id}"
        f" flow_active={getattr(consumer, 'flow_active', '?')}"
        f" in_recovery={getattr(app, 'in_recovery', '?')}",
        f"  faust active={_tps(getattr(consumer, '_active_partitions', None))}",
        f"  faust paused={_tps(getattr(consumer, '_paused_partitions', None))}",
    ]
    client = getattr(thread, "_consumer", None)
    subscription = getattr(getattr(client, "_subscription", None), "subscription", None)
    assignment = getattr(subscription, "assignment", None)
    for tp in sorted(getattr(assignment, "tps", None) or ()):
        assert assignment is not None
        state = assignment.state_value(tp)
        position = getattr(state, "_position", None)
        lines.append(
            f"  aiokafka {tp.topic}[{tp.partition}] position={position} paused={state.paused}"
            f" awaiting_reset={state.awaiting_reset} has_valid_position={state.has_valid_position}"
        )
    lines += _tasks("main loop", asyncio.get_running_loop())
    thread_loop = getattr(thread, "thread_loop", None)
    if thread_loop is not None:
        lines += _tasks("consumer thread loop", thread_loop)
    return "\n".join(lines)


def _tps(tps: Any) -> str:
    if tps is None:
        return "None"
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)) or "(none)"


def _tasks(title: str, loop: asyncio.AbstractEventLoop) -> list[str]:
    lines = [f"  tasks of the {title}:"]
    for task in sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name()):
        chain = _awaiting(task.get_coro())
        name = task.get_name()  # Faust names some tasks by their whole repr
        lines.append(
            f"    {name if len(name) < 24 else '(faust)'}: {' > '.join(chain[:1] + chain[-3:]) or '?'}"
        )
    return lines


def _awaiting(coroutine: Any) -> list[str]:
    """The chain of coroutines a task is suspended in, outermost first."""
    chain = []
    while coroutine is not None:
        frame = next(
            (f for f in (getattr(coroutine, a, None) for a in ("cr_frame", "gi_frame", "ag_frame")) if f),
            None,
        )
        if frame is not None:
            chain.append(f"{frame.f_code.co_qualname}:{frame.f_lineno}")
        coroutine = next(
            (c for c in (getattr(coroutine, a, None) for a in ("cr_await", "gi_yieldfrom", "ag_await")) if c),
            None,
        )
    return chain
