"""The session's translation stage: each utterance's committed source text in, its translation out as captions,
and its committed target text cut into phrases and handed to the speech stage as the translation streams.

The front end's updates come in the order the utterances were heard, each utterance's partial ones before its
final one. They are translated in that order, one at a time, so each translation sees the turns before it; a
partial update that a newer one of the same utterance overtook in the queue is skipped. A worker thread iterates
the policy's stream and hands each delta, stamped when its piece arrived, to the event loop, which pushes the newly
committed text into the phrase splitter and says each complete phrase at once: the first phrase is spoken while
the translation goes on. With `streaming` off the worker hands over only the whole translation (the old path,
kept for the benchmark's before and after).

`cancel` (barge-in) stops an utterance's translator stream and its speech together; the utterance is then
never translated or spoken again, and `UtteranceCancelled` is the last event about it (docs/protocol.md).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

from agent.models import Models
from agent.outbox import Outbox
from agent.speech import Speech, Spoken
from agent.text import PhraseSplitter
from agent.timings import Heard, Translated
from agent.translation import TranslationDelta, TranslationPolicy, make_policy
from model.translator import StopSignal, Turn
from model.words import is_han, split_words
from streaming.events import Translation, UtteranceCancelled


@dataclass(frozen=True)
class SourceUpdate:
    """An utterance's committed source text so far (all of it when `final`), from the front end."""

    utterance_id: int
    language: str
    text: str
    final: bool
    heard: Heard | None = None  # with the final update


@dataclass
class _Utterance:
    """What the translation stage keeps of the utterance it is translating."""

    id: int
    policy: TranslationPolicy
    splitter: PhraseSplitter
    spoken: Spoken
    committed: str = ""  # committed target text, all of it handed to the speech stage
    caption: tuple[str, int] | None = None  # (text, tentative words) of the last caption sent
    stop: StopSignal | None = None  # of the stream in flight
    first_token_at: float | None = None  # the final translation's first piece arrived
    done: bool = False  # its final translation is in (or failed)


class Translating:
    def __init__(
        self,
        models: Models,
        policy: str,
        target_language: str,
        updates: asyncio.Queue[SourceUpdate | None],
        speech: Speech,
        outbox: Outbox,
    ) -> None:
        """`policy` is one of POLICIES; `updates` ends with None."""
        self._translator = models.translator
        self._policy = policy
        self._streaming = models.translation.streaming
        self._target = target_language
        self._updates = updates
        self._speech = speech
        self._outbox = outbox
        self._turns: deque[Turn] = deque(maxlen=models.translation.context_turns or None)
        self._utterance: _Utterance | None = None
        self._cancelled: set[int] = set()

    def start(self) -> asyncio.Task:
        return asyncio.create_task(self._run())

    def cancel(self, utterance_id: int | None = None) -> None:
        """Stop an utterance's translation and speech at once (None: every utterance in flight, the one being
        translated and those still being spoken); each cancelled one gets an `UtteranceCancelled`. An utterance
        not yet here is skipped when it comes."""
        current = self._utterance if self._utterance is not None and not self._utterance.done else None
        if utterance_id is None:
            ids = self._speech.in_flight() | ({current.id} if current is not None else set())
        else:
            ids = {utterance_id}
        if current is not None and current.id in ids:
            current.done = True
            if current.stop is not None:
                current.stop.set()
        self._cancelled |= ids
        self._speech.cancel(ids)
        for uid in sorted(ids):
            self._outbox.emit(UtteranceCancelled(uid, self._outbox.now()))

    async def _run(self) -> None:
        ended = False
        while not ended:
            batch = [await self._updates.get()]
            while not self._updates.empty():
                batch.append(self._updates.get_nowait())
            ended = batch[-1] is None
            for update in _latest(batch):
                if update.utterance_id not in self._cancelled:
                    await self._translate(update)
        self._speech.end()

    async def _translate(self, update: SourceUpdate) -> None:
        """Run the utterance's translation policy on its source so far, handing each delta to `_on_delta` as it
        streams in; committed target text goes to speech."""
        uid = update.utterance_id
        if self._utterance is None or self._utterance.id != uid:
            self._utterance = self._open(update)
        utterance = self._utterance
        began = self._outbox.now()
        stop = utterance.stop = StopSignal()
        deltas: asyncio.Queue[tuple[TranslationDelta, float, float] | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def hand(delta: TranslationDelta, first: float) -> None:
            loop.call_soon_threadsafe(deltas.put_nowait, (delta, self._outbox.now(), first))

        pull = asyncio.ensure_future(
            self._outbox.model_call("translation_failed", uid, self._pull, utterance.policy, update, stop, hand)
        )
        pull.add_done_callback(lambda _: deltas.put_nowait(None))
        try:
            while (item := await deltas.get()) is not None:
                if uid not in self._cancelled:
                    self._on_delta(utterance, update, *item, began)
            failed = await pull is None
        finally:
            if not pull.done():
                stop.set()  # the session closing mid-stream must not leave the translator running
        if failed and update.final and uid not in self._cancelled:
            utterance.done = True  # what was committed is spoken; the error says the rest is lost
            for phrase in utterance.splitter.flush():
                self._speech.say(utterance.spoken, phrase, self._outbox.now())
            self._speech.translated(utterance.spoken, None, self._outbox.now())

    def _pull(
        self,
        policy: TranslationPolicy,
        update: SourceUpdate,
        stop: StopSignal,
        hand: Callable[[TranslationDelta, float], None],
    ) -> bool:
        """In a worker thread: hand over the deltas as they come (with streaming off, only the last one, once the
        stream ends), each with when the update's first delta came, until the stream ends or is stopped."""
        first, last = None, None
        with closing(policy.stream(update.text, update.final, stop)) as deltas:
            for delta in deltas:
                if stop.is_set():
                    return True
                first = self._outbox.now() if first is None else first
                if self._streaming:
                    hand(delta, first)
                last = delta
        if not self._streaming and last is not None and not stop.is_set():
            hand(last, first)
        return True

    def _on_delta(
        self,
        utterance: _Utterance,
        update: SourceUpdate,
        delta: TranslationDelta,
        at: float,
        first: float,
        began: float,
    ) -> None:
        """One delta of the translation, `at` when its piece arrived (`first` when the update's first one did): a
        caption as the text grows by a word, the new committed text into the splitter, each complete phrase to
        speech."""
        uid = utterance.id
        if update.final and utterance.first_token_at is None:
            utterance.first_token_at = first
        text, tentative = _caption(delta)
        if delta.final or (text, len(split_words(tentative))) != utterance.caption:
            utterance.caption = (text, len(split_words(tentative)))
            self._outbox.emit(Translation(uid, self._target, text, delta.final, at, tentative))
        phrases = utterance.splitter.push(delta.committed[len(utterance.committed) :])
        utterance.committed = delta.committed
        if delta.final:
            utterance.done = True
            phrases += utterance.splitter.flush()
            self._turns.append(Turn(update.text, delta.committed))
        for phrase in phrases:
            self._speech.say(utterance.spoken, phrase, at)
        if delta.final:
            assert update.heard is not None and utterance.first_token_at is not None
            readings = Translated(update.heard, utterance.first_token_at, (at - began) * 1000)
            self._speech.translated(utterance.spoken, readings, at)

    def _open(self, update: SourceUpdate) -> _Utterance:
        """The first update of an utterance: its policy sees the conversation's last turns."""
        policy = make_policy(self._policy, self._translator, update.language, self._target, list(self._turns))
        uid = update.utterance_id
        return _Utterance(uid, policy, PhraseSplitter(self._target), Spoken(uid))


def _caption(delta: TranslationDelta) -> tuple[str, str]:
    """What a caption shows of a delta: committed text that may end in a word still growing shows that word as
    tentative, so captions change word by word rather than piece by piece."""
    text, tentative = delta.committed, delta.tentative
    if delta.final or tentative or not text or is_han(text[-1]):
        return text, tentative
    word = split_words(text)[-1]
    return text[: len(text) - len(word)].rstrip(), word


def _latest(batch: list[SourceUpdate | None]) -> list[SourceUpdate]:
    """The updates worth translating: a partial one is skipped when a newer one for its utterance is queued."""
    updates = [update for update in batch if update is not None]
    return [
        update
        for index, update in enumerate(updates)
        if update.final or not any(later.utterance_id == update.utterance_id for later in updates[index + 1 :])
    ]
