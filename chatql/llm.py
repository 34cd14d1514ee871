"""The chat model the assistant talks to: one small protocol, and the implementation for any
OpenAI-compatible chat-completions API (OpenAI, Azure's v1 API, vLLM, llama.cpp's server,
Ollama, LiteLLM...) through the official `openai` SDK.

The assistant sees only `Delta`s and `ModelError`s, so it never depends on the SDK's types,
and a test or another provider can stand in for the whole thing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import openai

log = logging.getLogger("chatql.llm")

Prompt = Sequence[Mapping[str, Any]]
"""Chat-completions messages: {"role": ..., "content": ...} and tool calls/results."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it (it may not even be valid)

    def parsed_arguments(self) -> dict[str, Any]:
        try:
            value = json.loads(self.arguments or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class Delta:
    """One step of a streamed completion: text as it comes, then tool calls and the end."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None  # "stop", "length", "tool_calls", "content_filter"...
    refusal: str = ""
    request_id: str | None = None  # the API's x-request-id, else the completion's id


class ModelError(Exception):
    """The model could not answer: `kind` is "timeout", "unreachable", "status" or "bad_reply"."""

    def __init__(
        self, kind: str, message: str, status: int | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.request_id = request_id


class ChatModel(Protocol):
    def stream(
        self, prompt: Prompt, tools: Sequence[Mapping[str, Any]]
    ) -> AsyncIterator[Delta]: ...

    async def close(self) -> None: ...


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAIChat:
    """Streams chat completions with the official SDK (AsyncOpenAI), retrying once at most."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        timeout: float,
        max_tokens: int,
        max_retries: int = 1,
    ) -> None:
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            # servers that need no key (Ollama, llama.cpp) take any; the SDK insists on one
            api_key=api_key or "none",
            timeout=timeout,
            max_retries=max_retries,
        )
        self._model = model
        self._max_tokens = max_tokens

    async def close(self) -> None:
        await self._client.close()

    async def stream(
        self, prompt: Prompt, tools: Sequence[Mapping[str, Any]]
    ) -> AsyncIterator[Delta]:
        request_id: str | None = None
        try:
            chunks = await self._client.chat.completions.create(
                model=self._model,
                messages=cast(Any, list(prompt)),
                stream=True,
                tools=cast(Any, list(tools)) if tools else openai.omit,
                max_tokens=self._max_tokens or openai.omit,
            )
            request_id = chunks.response.headers.get("x-request-id")
            pending: dict[int, _PendingCall] = {}
            async with chunks:
                async for chunk in chunks:
                    request_id = request_id or chunk.id
                    for choice in chunk.choices[:1]:
                        delta = choice.delta
                        for call in delta.tool_calls or ():
                            slot = pending.setdefault(call.index, _PendingCall())
                            slot.id = call.id or slot.id
                            if call.function is not None:
                                slot.name = call.function.name or slot.name
                                slot.arguments.append(call.function.arguments or "")
                        finish = choice.finish_reason
                        calls = _complete(pending) if finish is not None else ()
                        text, refusal = delta.content or "", getattr(delta, "refusal", None) or ""
                        if text or refusal or finish or calls:
                            yield Delta(text, calls, finish, refusal, request_id)
            if pending:  # a stream that ended without saying why, after tool calls
                yield Delta("", _complete(pending), "tool_calls", "", request_id)
        except openai.APITimeoutError as exc:
            raise ModelError(
                "timeout", "the model did not answer in time", None, request_id
            ) from exc
        except openai.APIStatusError as exc:
            raise ModelError(
                "status",
                f"the model's API answered {exc.status_code}",
                exc.status_code,
                exc.request_id or request_id,
            ) from exc
        except openai.APIConnectionError as exc:
            raise ModelError("unreachable", "the model's API cannot be reached", None) from exc
        except (openai.OpenAIError, ValueError) as exc:  # an error event, a malformed chunk...
            raise ModelError(
                "bad_reply", f"the model's API failed: {exc}", None, request_id
            ) from exc


def _complete(pending: dict[int, _PendingCall]) -> tuple[ToolCall, ...]:
    """The tool calls gathered from the deltas so far, in index order; `pending` is emptied."""
    calls = tuple(
        ToolCall(p.id or f"call_{i}", p.name, "".join(p.arguments))
        for i, p in sorted(pending.items())
    )
    pending.clear()
    return calls
