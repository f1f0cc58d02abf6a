"""A unit of work's undo log: each claim a create takes (idempotency key, budget
reservation, cache claim) registers how to give it back once, when it is taken.

If anything raises before `commit()` (a 4xx from a provider, a timeout, or a bug: any
exception), the steps run in reverse order; a step that fails itself is logged and the rest
still run, so one broken undo never leaves the others held. After `commit()` nothing is
undone. `finally_` steps run either way (e.g. letting go of an in-process lock).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

log = logging.getLogger("videogate.lifecycle")
Step = Callable[[BaseException], Awaitable[None]]


class UnitOfWork:
    def __init__(self) -> None:
        self._undo: dict[str, Step] = {}
        self._always: list[Callable[[], None]] = []
        self.committed = False

    def on_failure(self, name: str, step: Step) -> None:
        """Register (or replace, under the same name) how to undo one claim; `step` gets the
        exception that is failing the unit, so it can tell a timeout from a refusal."""
        self._undo[name] = step

    def finally_(self, step: Callable[[], None]) -> None:
        self._always.append(step)

    def commit(self) -> None:
        self.committed = True
        self._undo.clear()

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is not None and not self.committed:
                for name, step in reversed(list(self._undo.items())):
                    try:
                        await step(exc)
                    except Exception:
                        log.exception("undoing %s failed", name)
            self._undo.clear()
        finally:
            for always in self._always:
                always()
