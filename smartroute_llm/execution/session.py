"""One streamed call across its attempts: what reached the caller, the chunks of the current
attempt, and what follows a broken stream (fallback before any text, resume or
:class:`StreamInterrupted` after it). The sync and async stream drivers feed it."""

from __future__ import annotations

from typing import Any

from smartroute_llm.errors import ErrorKind, StreamInterrupted, provider_error
from smartroute_llm.execution.call import Call, as_provider_error
from smartroute_llm.execution.guards import Box, check_response
from smartroute_llm.execution.lease import Lease
from smartroute_llm.plan import Candidate
from smartroute_llm.request import ChatRequest
from smartroute_llm.response import ChatChunk, ChatResponse
from smartroute_llm.resume import ContinuationJoiner, ContinuationMismatch
from smartroute_llm.streaming import ChunkAccumulator

# A stream already started by a race: (lease, its chunks, ttft box, chunks already read).
Started = tuple[Lease, Any, Box, list[ChatChunk]]


class StreamSession:
    """The state of one streamed call across attempts; the sync and async drivers feed it."""

    def __init__(self, call: Call, started: Started | None) -> None:
        self.call = call
        self._emitted: list[str] = []  # pieces: `str +=` on an attribute copies it per chunk
        self.request = call.request
        self.original: StreamInterrupted | None = None
        self.prefill_failed: set[str] = set()
        self.acc = ChunkAccumulator()
        self.buffered: list[ChatChunk] = []
        self.joiner: ContinuationJoiner | None = None  # set while resuming a broken stream
        self.started = started
        self.c: Candidate | None
        if started is not None:
            self.lease, _, self.ttft, self.buffered = started
            self.c = self.lease.c
        else:
            self.c = call.next_candidate()

    @property
    def emitted(self) -> str:
        """The text that reached the caller."""
        pieces = self._emitted
        if len(pieces) > 1:
            pieces[:] = ["".join(pieces)]
        return pieces[0] if pieces else ""

    def take_started(self) -> Any:
        if self.started is None:
            return None
        it, self.started = self.started[1], None
        return it

    def take_buffered(self) -> list[ChatChunk]:
        out, self.buffered = self.buffered, []
        return out

    def begin(self) -> tuple[Lease, Box]:
        assert self.c is not None
        self.lease = self.call.begin(self.c)
        self.ttft = Box()
        self.acc = ChunkAccumulator()
        self.joiner = None if self.original is None else ContinuationJoiner(self.emitted)
        return self.lease, self.ttft

    def feed(self, chunk: ChatChunk) -> ChatChunk | None:
        """The one place where streamed text reaches the caller. A resumed stream's text goes
        through the joiner first, so nothing delivered is ever repeated."""
        self.acc.add(chunk)
        if not chunk.has_output:
            return None
        if self.joiner is not None and chunk.text:
            text = self.joiner.feed(chunk.text)
            if text != chunk.text:
                if not text and not (chunk.tool_call_deltas or chunk.reasoning):
                    return None
                chunk = chunk.model_copy(update={"text": text})
        if chunk.text:
            self._emitted.append(chunk.text)
        return _strip(chunk)

    def finish(self) -> ChatChunk:
        assert self.c is not None
        tail = self.joiner.finish() if self.joiner is not None else ""
        if tail:
            self._emitted.append(tail)
        resp = self.acc.response()
        if not self.emitted or self.acc.broken_tool_calls():
            check_response(resp, self.c, self.acc)
        resp.text = self.emitted
        return _final_chunk(self.call.succeed(self.lease, resp, self.ttft.value), tail)

    def fail(self, exc: Exception) -> float | None:
        """A retry delay for the same candidate, or ``None`` after moving to the next one."""
        assert self.c is not None
        step = self._after_error(exc)
        self.acc = ChunkAccumulator()
        if isinstance(step, float):
            return step
        self.original, self.request, self.c = step
        return None

    def give_up(self) -> Exception:
        if self.original is not None:
            self.original.attempts = self.call.attempts  # type: ignore[attr-defined]
            return self.original
        return self.call.exhausted()

    def _after_error(
        self, exc: Exception
    ) -> float | tuple[StreamInterrupted | None, ChatRequest, Candidate | None]:
        """Decide what follows a failed stream: a retry delay, or (original error, request,
        next candidate). Before any text reached the caller this is plain fallback; after it,
        the stream is either resumed elsewhere or surfaces as :class:`StreamInterrupted`."""
        call, c, lease, emitted = self.call, self.c, self.lease, self.emitted
        original, prefill_failed = self.original, self.prefill_failed
        assert c is not None
        if isinstance(exc, ContinuationMismatch) and original is not None:
            # the target answered, but its restart cannot be joined to what was delivered
            err = provider_error(
                ErrorKind.STREAM_INTERRUPTED, f"continuation not joined: {exc}",
                target=c.name, model=c.model,
            )
            err.client_side = True  # no verdict on the target's health
            call.record_failure(lease, err, partial=self.acc.text)
            original.attempts = call.attempts  # type: ignore[attr-defined]
            raise original
        if not emitted:
            delay = call.fail(lease, exc)
            if delay is not None:
                return delay
            return original, call.request, call.next_candidate()
        err = as_provider_error(exc, c)
        resuming = original is not None
        prefilled = (
            resuming and c.profile.capability.supports_prefill and c.name not in prefill_failed
        )
        if resuming and prefilled and err.kind is ErrorKind.INVALID_REQUEST:
            # the target rejected the assistant prefill: try it again with a clean restart
            prefill_failed.add(c.name)
            call.record_failure(lease, err)
            lease.att.message = "prefill rejected"
            call.pos -= 1
            nxt = call.next_candidate()
            if nxt is None:
                original.attempts = call.attempts  # type: ignore[union-attr]
                raise original  # type: ignore[misc]
            prefill = nxt.profile.capability.supports_prefill and nxt.name not in prefill_failed
            return original, call.resumed_request(emitted, nxt, prefill), nxt
        call.record_failure(lease, err, partial=self.acc.text)
        if original is None:
            original = StreamInterrupted(
                f"stream from {c.name} broke after {len(emitted)} characters ({err.kind.value})",
                partial_text=emitted,
                target=c.name,
                model=c.model,
            )
            original.__cause__ = err
        if not call.policy.resumes_streams:
            original.attempts = call.attempts  # type: ignore[attr-defined]
            raise original
        nxt = call.next_candidate()
        if nxt is None:
            original.attempts = call.attempts  # type: ignore[attr-defined]
            raise original
        use_prefill = nxt.profile.capability.supports_prefill and nxt.name not in prefill_failed
        return original, call.resumed_request(emitted, nxt, use_prefill), nxt


def _strip(chunk: ChatChunk) -> ChatChunk:
    if chunk.usage is None and chunk.finish_reason is None:
        return chunk
    return chunk.model_copy(update={"usage": None, "finish_reason": None})


def _final_chunk(resp: ChatResponse, text: str = "") -> ChatChunk:
    return ChatChunk(
        text=text,
        usage=resp.usage,
        finish_reason=resp.finish_reason,
        model=resp.model,
        decision=resp.decision,
    )
