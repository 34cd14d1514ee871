"""The AI assistant: a bot member that answers when mentioned, and in its direct chats.

It listens to the change feed like any subscriber (a hub observer), never inside the mutation
that sent the question. For each new message it may answer, it first claims the turn in the
store (one conditional insert keyed by the message's id), so with several processes on one
database exactly one calls the model. The reply is a message by the bot, created at once and
then grown by throttled ordinary updates (`ReplyStream`), ending with `isStreaming` false.

Failures are answers too: the model's errors, silence and refusals end the reply with a short
explanation, logged with the API's request id, and the server carries on. A reply is stopped
by writing it ended in the store (whichever process takes the request); the process writing
it sees that in the feed and stops asking the model.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from broadcaster import Event

from chatql.background import BackgroundTasks
from chatql.config import Settings
from chatql.config_values import ConfigError
from chatql.errors import BadUserInput, ChatError, Forbidden, NotFound, RateLimited, StoreConflict
from chatql.llm import ChatModel, ModelError, ToolCall
from chatql.security.rate_limit import Rate, RateLimiter
from chatql.services import permissions, validation
from chatql.services.assistant_context import AssistantContext, Question
from chatql.services.assistant_tools import TOOLS, AssistantTools
from chatql.services.membership_cache import MembershipCache
from chatql.services.messages import Messages
from chatql.services.notifications import mentioned_usernames
from chatql.services.record_cache import RecordCache
from chatql.services.reply_stream import ReplyStream
from chatql.services.rooms import Rooms
from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import (
    AssistantTurnRecord,
    ChangeEvent,
    MessageRecord,
    RoomRecord,
    UserRecord,
    now_utc,
)

log = logging.getLogger("chatql.assistant")

MAX_TOOL_ROUNDS = 3
MAX_CONCURRENT_ANSWERS = 8
ROOM_RATE_FACTOR = 3  # a room may ask this many times as often as one person
ANSWERED_TYPES = ("TEXT", "IMAGE", "FILE")

REFUSED = "I can't help with that."
CUT_SHORT = "(The answer was cut short: it reached its length limit.)"
STOPPED = "(Stopped.)"
INTERRUPTED = "(Interrupted: the server stopped while answering.)"


def failure_note(error: ModelError) -> str:
    """A short explanation people can read, with a reference an operator can find in the log."""
    if error.kind == "timeout":
        why = "the AI service did not answer in time"
    elif error.kind == "unreachable":
        why = "the AI service cannot be reached"
    elif error.status == 429:
        why = "the AI service is busy"
    elif error.kind == "status":
        why = f"the AI service answered with an error ({error.status})"
    else:
        why = "the AI service sent a broken answer"
    ref = f" (ref {error.request_id})" if error.request_id else ""
    return f"Sorry, I couldn't answer: {why}. Please try again later.{ref}"


class Assistant:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        rooms: Rooms,
        messages: Messages,
        members: MembershipCache,
        room_records: RecordCache[RoomRecord],
        context: AssistantContext,
        tools: AssistantTools,
        model: ChatModel,
        process_name: str,
    ) -> None:
        self._settings = settings
        self._store = store
        self._rooms = rooms
        self._messages = messages
        self._members = members
        self._room_records = room_records
        self._context = context
        self._tools = tools
        self._model = model
        self._process = process_name
        rate = Rate.parse(settings.rate_limit_assistant)
        self._limit = RateLimiter(rate)
        self._told_to_wait: dict[str, float] = {}
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_ANSWERS)
        self._tasks = BackgroundTasks()
        self._writing: dict[str, asyncio.Task[Any]] = {}  # reply id -> the task writing it
        self.bot: UserRecord | None = None

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> UserRecord:
        """Make sure the bot user exists; returns it."""
        self.bot = await self._ensure_bot()
        log.info(
            "assistant @%s answers with %s at %s",
            self.bot.username,
            self._settings.assistant_model,
            self._settings.assistant_base_url,
        )
        return self.bot

    async def stop(self) -> None:
        await self._tasks.cancel()
        await self._model.close()

    async def _ensure_bot(self) -> UserRecord:
        """The bot user, made the first time: no password, so nobody can sign in as it."""
        name = self._settings.assistant_username
        display = self._settings.assistant_display_name or "Assistant"
        user = await self._store.get_user_by_username(name)
        if user is None:
            candidate = UserRecord(
                id=new_id(),
                username=name,
                display_name=display,
                password_hash="",
                created_at=now_utc(),
                is_bot=True,
            )
            try:
                await self._store.create_user(candidate)
                return candidate
            except StoreConflict:  # another process made it meanwhile, or the name is held
                user = await self._store.get_user_by_username(name)
        if user is None or not user.is_bot or user.deleted_at is not None:
            raise ConfigError(
                f"CHATQL_ASSISTANT_USERNAME={name} is taken by a person's account; "
                "choose another name for the assistant"
            )
        if user.display_name != display:
            user = await self._store.update_user(user.id, {"display_name": display}) or user
        return user

    # ------------------------------------------------------------ the feed
    def observe(self, event: Event) -> None:
        """Every committed change passes here: questions start answers, and a reply that
        ended elsewhere (stopped, deleted) stops the task writing it."""
        change = event.message
        if self.bot is None or not isinstance(change, ChangeEvent):
            return
        if change.collection != "messages" or change.document is None:
            return
        doc = change.document
        if change.operation == "insert":
            if doc.get("author_id") != self.bot.id and doc.get("deleted_at") is None:
                self._spawn(self._consider(MessageRecord.from_doc(doc)))
        elif change.operation == "update" and not doc.get("is_streaming"):
            writer = self._writing.pop(change.key, None)
            if writer is not None:
                writer.cancel()

    def _spawn(self, work: Any) -> None:
        self._tasks.spawn(work, name="chatql-assistant")

    async def _consider(self, message: MessageRecord) -> None:
        try:
            question = await self._question(message)
            if question is None:
                return
            turn = AssistantTurnRecord(
                id=message.id,
                room_id=message.room_id,
                asker_id=message.author_id,
                claimed_by=self._process,
                created_at=now_utc(),
            )
            if not await self._store.claim_assistant_turn(turn):
                return  # another process answers it
            async with self._slots:
                await self._answer(question)
        except asyncio.CancelledError:
            raise
        except ChatError as exc:  # e.g. the bot was muted or removed meanwhile
            log.info("the assistant does not answer message %s: %s", message.id, exc.message)
        except Exception:
            log.exception("the assistant could not handle message %s", message.id)

    async def _question(self, message: MessageRecord) -> Question | None:
        """The message as a question to the assistant, or None when it is not one: only in a
        room the bot belongs to, from someone who may read it, mentioning the bot (or any
        message in a direct chat with it)."""
        bot = self.bot
        if bot is None or message.message_type not in ANSWERED_TYPES or message.is_streaming:
            return None
        if not await self._members.is_member(message.room_id, bot.id):
            return None
        room = await self._room_records.get(message.room_id)
        if room is None:
            return None
        if not room.is_direct and bot.username not in mentioned_usernames(message.content):
            return None
        asker = await self._store.get_user(message.author_id)
        if asker is None or asker.is_bot or asker.is_guest:
            return None
        return Question(message, asker, room)

    # ------------------------------------------------------------ answering
    async def _answer(self, question: Question) -> None:
        bot = self.bot
        assert bot is not None
        reply_to = question.message.reply_to_id
        try:
            self._limit.hit(question.asker.id, "questions to the assistant")
            self._limit.hit(
                question.room.id, "questions to the assistant", cost=1 / ROOM_RATE_FACTOR
            )
        except RateLimited as exc:
            await self._tell_to_wait(question, int(exc.extensions.get("retryAfter", 1)))
            return
        reply = await self._messages.start_bot_reply(bot, question.room.id, reply_to_id=reply_to)
        await self._store.set_assistant_reply(question.message.id, reply.id)
        stream = ReplyStream(self._messages, reply.id)
        current = asyncio.current_task()
        assert current is not None
        self._writing[reply.id] = current
        try:
            note = await self._converse(bot, question, stream)
        except asyncio.CancelledError:
            if self._writing.pop(reply.id, None) is None:  # ended elsewhere: nothing to add
                await asyncio.shield(stream.close())
            else:  # the server is stopping
                await asyncio.shield(stream.finish(_joined(stream.text, INTERRUPTED)))
            raise
        except ModelError as exc:
            log.warning(
                "the assistant's model failed for message %s: %s (status %s, request id %s)",
                question.message.id,
                exc,
                exc.status,
                exc.request_id,
            )
            note = failure_note(exc)
        except Exception:
            log.exception("the assistant failed answering message %s", question.message.id)
            note = "Sorry, something went wrong while I was answering."
        self._writing.pop(reply.id, None)
        await stream.finish(_joined(stream.text, note) or note or "…")

    async def _converse(self, bot: UserRecord, question: Question, stream: ReplyStream) -> str:
        """Ask the model, run the tools it calls, and stream its text; returns a note to add
        at the end ("" when the answer is complete)."""
        prompt: list[dict[str, Any]] = await self._context.prompt(bot, question)
        for round_ in range(MAX_TOOL_ROUNDS + 1):
            tools = TOOLS if round_ < MAX_TOOL_ROUNDS else []
            said, refusal = "", ""
            calls: tuple[ToolCall, ...] = ()
            finish: str | None = None
            request_id: str | None = None
            async for delta in self._model.stream(prompt, tools):
                request_id = delta.request_id or request_id
                stream.append(delta.text)
                said += delta.text
                refusal += delta.refusal
                calls = delta.tool_calls or calls
                finish = delta.finish_reason or finish
                if len(stream.text) >= validation.MAX_CONTENT:
                    return CUT_SHORT
            if refusal or finish == "content_filter":
                log.info(
                    "the model declined message %s (%s, request id %s)",
                    question.message.id,
                    finish or "refusal",
                    request_id,
                )
                return REFUSED if not refusal else refusal.strip()
            if not calls:
                return CUT_SHORT if finish == "length" else ""
            prompt.append(
                {
                    "role": "assistant",
                    "content": said or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        }
                        for c in calls
                    ],
                }
            )
            for call in calls:
                result = await self._tools.run(call, question)
                prompt.append({"role": "tool", "tool_call_id": call.id, "content": result})
        return ""

    async def _tell_to_wait(self, question: Question, retry_after: int) -> None:
        """Say once per wait that the asker (or room) asks too often; then stay quiet."""
        key = f"{question.room.id}:{question.asker.id}"
        now = time.monotonic()
        if self._told_to_wait.get(key, 0.0) > now:
            return
        self._told_to_wait = {k: t for k, t in self._told_to_wait.items() if t > now}
        self._told_to_wait[key] = now + retry_after
        assert self.bot is not None
        await self._messages.start_bot_reply(
            self.bot,
            question.room.id,
            f"@{question.asker.username} you're asking faster than I can answer: "
            f"please try again in {retry_after} s.",
            reply_to_id=question.message.reply_to_id,
            streaming=False,
        )

    # ------------------------------------------------------------ stopping
    async def stop_reply(self, viewer: UserRecord, message_id: str) -> MessageRecord:
        """End a reply being written: its asker, the room's owner or admins, or a moderator.
        A reply that already ended is returned as it is."""
        reply = await self._messages.get_message(viewer, message_id)
        if reply is None:
            raise NotFound("Message not found")
        if self.bot is None or reply.author_id != self.bot.id:
            raise BadUserInput("The message is not the assistant's reply", field="messageId")
        turn = await self._store.get_assistant_turn_by_reply(reply.id)
        if turn is None or turn.asker_id != viewer.id:
            role = await self._rooms.role_of(reply.room_id, viewer.id)
            if role not in ("OWNER", "ADMIN") and not permissions.is_global_moderator(viewer):
                raise Forbidden("Only the person who asked or a room admin can stop the reply")
        if not reply.is_streaming:
            return reply
        stopped = await self._messages.stream_bot_reply(
            reply.id, _joined(reply.content, STOPPED), done=True
        )
        if stopped is None:  # it ended meanwhile
            return await self._messages.get_message(viewer, reply.id) or reply
        return stopped


def _joined(text: str, note: str) -> str:
    """The reply's text with a note after it, the note kept whole within the length limit."""
    text = text.strip()
    if not note:
        return text[: validation.MAX_CONTENT]
    if not text:
        return note
    return f"{text[: validation.MAX_CONTENT - len(note) - 2]}\n\n{note}"
