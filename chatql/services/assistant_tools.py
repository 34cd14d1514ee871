"""The assistant's tools (function calling), each bound to the asker's rights in the room the
question was asked in: search that room's history, look up one of its members, read one of its
threads. None of them writes anything or reaches another room, whatever the model asks for;
the asker's right to read the room is checked again at every call.
"""

from __future__ import annotations

import json
from typing import Any

from chatql.llm import ToolCall
from chatql.services.assistant_context import MAX_THREAD, Question, label
from chatql.services.rooms import Rooms
from chatql.store.base import Store
from chatql.store.records import MessageRecord, UserRecord

MAX_RESULTS = 20
MAX_TEXT = 500

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "search_messages",
            "description": "Search this chat room's history for messages that contain a word "
            "or phrase (case-insensitive). Returns the newest matches first.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "the text to look for"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS},
                },
                "required": ["query"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "lookup_member",
            "description": "Look up a member of this chat room by username: their name, role "
            "in the room, when they joined and whether they are a bot.",
            "parameters": {
                "type": "object",
                "properties": {"username": {"type": "string"}},
                "required": ["username"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_thread",
            "description": "Read a thread of this chat room, to summarise it: the message "
            "with this number (the #number messages are quoted with) and its replies.",
            "parameters": {
                "type": "object",
                "properties": {"message_number": {"type": "integer", "minimum": 1}},
                "required": ["message_number"],
            },
        },
    },
]


def _result(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _error(message: str) -> str:
    return _result({"error": message})


class AssistantTools:
    def __init__(self, store: Store, rooms: Rooms) -> None:
        self._store = store
        self._rooms = rooms

    async def run(self, call: ToolCall, question: Question) -> str:
        """The tool's answer as JSON text; a refusal or a mistake is an answer too."""
        if not await self._rooms.can_read(question.asker, question.room.id):
            return _error("the person asking can no longer read this room")
        args = call.parsed_arguments()
        if call.name == "search_messages":
            return await self._search(question, args)
        if call.name == "lookup_member":
            return await self._member(question, args)
        if call.name == "get_thread":
            return await self._thread(question, args)
        return _error(f"there is no tool called {call.name!r}")

    async def _quote(self, messages: list[MessageRecord]) -> list[dict[str, Any]]:
        authors = await self._store.get_users(list({m.author_id for m in messages}))
        return [
            {
                "number": m.seq,
                "from": label(authors.get(m.author_id)),
                "at": m.created_at.isoformat(),
                "text": m.content[:MAX_TEXT],
            }
            for m in messages
            if m.deleted_at is None and not m.is_streaming
        ]

    async def _search(self, question: Question, args: dict[str, Any]) -> str:
        query = str(args.get("query") or "").strip()[:100]
        if not query:
            return _error("query must not be empty")
        limit = args.get("limit")
        size = min(MAX_RESULTS, max(1, limit)) if isinstance(limit, int) else 10
        found = await self._store.search_room_messages(question.room.id, query, size)
        return _result({"matches": await self._quote(found)})

    async def _member(self, question: Question, args: dict[str, Any]) -> str:
        name = str(args.get("username") or "").strip().lstrip("@").lower()[:32]
        user: UserRecord | None = await self._store.get_user_by_username(name) if name else None
        membership = await self._store.get_membership(question.room.id, user.id) if user else None
        if user is None or membership is None or user.deleted_at is not None:
            return _result({"found": False, "why": f"no member of this room is called @{name}"})
        return _result(
            {
                "found": True,
                "username": user.username,
                "displayName": user.display_name,
                "role": membership.role,
                "joinedAt": membership.joined_at.isoformat(),
                "isBot": user.is_bot,
            }
        )

    async def _thread(self, question: Question, args: dict[str, Any]) -> str:
        number = args.get("message_number")
        if not isinstance(number, int) or number < 1:
            return _error("message_number must be a message's number, like 12 for #12")
        found = await self._store.list_messages(
            question.room.id, limit=1, direction="ASC", after_seq=number - 1
        )
        if not found or found[0].seq != number or found[0].deleted_at is not None:
            return _error(f"there is no message #{number} in this room")
        root = found[0]
        if root.reply_to_id is not None:
            parent = await self._store.get_message(root.reply_to_id)
            if parent is not None and parent.room_id == question.room.id:
                root = parent
        replies = await self._store.list_replies(root.id, MAX_THREAD, None)
        thread = [root, *(r for r in replies if r.room_id == question.room.id)]
        return _result({"thread": await self._quote(thread)})
