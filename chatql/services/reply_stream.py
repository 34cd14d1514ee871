"""A reply written as it is generated: the text so far, stored at most every `interval` seconds.

Each write is an ordinary message update through the messages service, so subscribers and the
shared fan-out see a streaming reply as any other edit, at a pace they can follow (about five
a second, however fast tokens come). Writes happen one at a time, in order; once the reply has
ended elsewhere (stopped, or deleted), every later write is refused and `ended` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from chatql.services.messages import Messages
from chatql.store.records import MessageRecord

UPDATE_INTERVAL = 0.2


class ReplyStream:
    def __init__(self, messages: Messages, reply_id: str, interval: float = UPDATE_INTERVAL):
        self._messages = messages
        self.reply_id = reply_id
        self._interval = interval
        self.text = ""
        self._written = ""
        self._last_write = 0.0
        self._flusher: asyncio.Task[None] | None = None
        self._writing = False
        self._closing = False
        self.ended = False

    def append(self, piece: str) -> None:
        if not piece or self.ended:
            return
        self.text += piece
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="chatql-reply-stream")

    async def _flush(self) -> None:
        while not self._closing and not self.ended and self.text != self._written:
            delay = self._last_write + self._interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            text = self.text
            self._writing = True
            try:
                self._last_write = time.monotonic()
                if await self._messages.stream_bot_reply(self.reply_id, text) is None:
                    self.ended = True
                self._written = text
            finally:
                self._writing = False

    async def _settle(self) -> None:
        """Let a write under way finish (order matters); drop one that is only waiting."""
        self._closing = True
        flusher = self._flusher
        if flusher is None or flusher.done():
            return
        if not self._writing:
            flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher

    async def finish(self, text: str) -> MessageRecord | None:
        """The final write: `text` in full, and the reply no longer streaming. None when the
        reply had already ended elsewhere."""
        await self._settle()
        if self.ended:
            return None
        self.text = text
        done = await self._messages.stream_bot_reply(self.reply_id, text, done=True)
        self.ended = True
        return done

    async def close(self) -> None:
        """Stop writing without a final write (the reply ended elsewhere)."""
        self.ended = True
        await self._settle()
