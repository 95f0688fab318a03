"""The HTTP half of the kill sequence (Aurora's ``HttpLifecycleManager``).

Before the runner signals anything, the executor POSTs ``/quitquitquit`` to the task's lifecycle
port (``health`` by default) and waits up to ``graceful_shutdown_wait_secs``, then POSTs
``/abortabortabort`` and waits up to ``shutdown_wait_secs``. A wait happens only when the POST
was handled (any HTTP response), and ends early once the task has finished. Then the runner takes
over: SIGTERM, ``finalization_wait``, SIGKILL.

This is a clock-driven state machine: :meth:`HttpLifecycle.step` posts what is due and returns
how long the caller may wait, or None once the HTTP phase is over.
"""

from __future__ import annotations

from aurora.executor.signaler import HttpRequester, HttpSignaler, http_request
from aurora.executor.task import LifecycleSpec

__all__ = ["HttpLifecycle"]


class HttpLifecycle:
    def __init__(self, spec: LifecycleSpec, *, request: HttpRequester = http_request,
                 timeout: float = 1.0) -> None:
        self._endpoints = spec.endpoints
        self._signaler = HttpSignaler(spec.port, timeout=timeout, request=request)
        self._index = 0
        self._deadline: float | None = None
        #: (endpoint, time posted, handled) for every POST made.
        self.calls: list[tuple[str, float, bool]] = []

    @property
    def done(self) -> bool:
        return self._index >= len(self._endpoints)

    def step(self, now: float, task_finished: bool) -> float | None:
        while not self.done:
            if task_finished:
                self._index = len(self._endpoints)
                break
            if self._deadline is not None:
                if now < self._deadline:
                    return self._deadline - now
                self._deadline = None
                self._index += 1
                continue
            endpoint, wait = self._endpoints[self._index]
            handled, _ = self._signaler(endpoint, post=True)
            self.calls.append((endpoint, now, handled))
            if handled and wait > 0:
                self._deadline = now + wait
            else:
                self._index += 1
        return None
