"""Open sockets per user, so a revoked session loses its live connections at once.

Logging out everywhere or changing the password bumps the user's token version; the change
feed carries that to every process, and each closes that user's sockets opened with an older
version (close code 4401), so a stolen token cannot keep listening.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from broadcaster import Event

from chatql.background import BackgroundTasks
from chatql.store.records import ChangeEvent

log = logging.getLogger("chatql.sessions")
Closer = Callable[[], Awaitable[None]]
REVOKED_CLOSE_CODE = 4401


class SessionRegistry:
    def __init__(self) -> None:
        self._sockets: dict[str, dict[int, tuple[int, Closer]]] = {}
        self._tasks = BackgroundTasks()

    def add(self, user_id: str, token_version: int, close: Closer) -> int:
        handle = id(close)
        self._sockets.setdefault(user_id, {})[handle] = (token_version, close)
        return handle

    def remove(self, user_id: str, handle: int) -> None:
        sockets = self._sockets.get(user_id)
        if sockets is not None:
            sockets.pop(handle, None)
            if not sockets:
                del self._sockets[user_id]

    def count(self, user_id: str) -> int:
        return len(self._sockets.get(user_id, ()))

    def observe(self, event: Event) -> None:
        """Hub observer: a user's newer token version closes their older sockets."""
        change = event.message
        if not (
            isinstance(change, ChangeEvent)
            and change.collection == "users"
            and change.key in self._sockets
        ):
            return
        # A deleted user (an expired guest) loses every socket.
        document = change.document
        version = int(document.get("token_version", 0)) if document is not None else None
        for handle, (opened_with, close) in list(self._sockets[change.key].items()):
            if version is None or opened_with < version:
                self.remove(change.key, handle)
                self._tasks.spawn(self._close(close))

    @staticmethod
    async def _close(close: Closer) -> None:
        try:
            await close()
        except Exception:  # the socket may already be gone
            log.debug("closing a revoked socket failed", exc_info=True)
