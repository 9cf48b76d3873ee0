"""The session's translation stage: each utterance's committed source text in, its translation out as captions,
and its committed target text cut into phrases and handed to the speech stage.

The front end's updates come in the order the utterances were heard, each utterance's partial ones before its
final one. They are translated in that order, one at a time, so each translation sees the turns before it; a
partial update that a newer one of the same utterance overtook in the queue is skipped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from agent.models import Models
from agent.outbox import Outbox
from agent.speech import Speech, Spoken
from agent.text import PhraseSplitter
from agent.timings import Heard
from agent.translation import TranslationPolicy, make_policy
from model.translator import Turn
from streaming.events import Translation


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
        self._target = target_language
        self._updates = updates
        self._speech = speech
        self._outbox = outbox
        self._turns: deque[Turn] = deque(maxlen=models.translation.context_turns or None)
        self._utterance: _Utterance | None = None

    def start(self) -> asyncio.Task:
        return asyncio.create_task(self._run())

    async def _run(self) -> None:
        ended = False
        while not ended:
            batch = [await self._updates.get()]
            while not self._updates.empty():
                batch.append(self._updates.get_nowait())
            ended = batch[-1] is None
            for update in _latest(batch):
                await self._translate(update)
        self._speech.end()

    async def _translate(self, update: SourceUpdate) -> None:
        """Run the utterance's translation policy on its source so far; committed target text goes to speech."""
        uid = update.utterance_id
        if self._utterance is None or self._utterance.id != uid:
            self._utterance = self._open(update)
        utterance = self._utterance
        began = self._outbox.now()
        delta = await self._outbox.model_call(
            "translation_failed", uid, utterance.policy.update, update.text, update.final
        )
        now = self._outbox.now()
        if delta is None:
            return
        self._outbox.emit(Translation(uid, self._target, delta.committed, delta.final, now, delta.tentative))
        phrases = utterance.splitter.push(delta.committed[len(utterance.committed) :])
        utterance.committed = delta.committed
        if delta.final:
            phrases += utterance.splitter.flush()
            self._turns.append(Turn(update.text, delta.committed))
        for phrase in phrases:
            self._speech.say(utterance.spoken, phrase, now)
        if delta.final:
            assert update.heard is not None
            self._speech.translated(utterance.spoken, update.heard, (now - began) * 1000, now)

    def _open(self, update: SourceUpdate) -> _Utterance:
        """The first update of an utterance: its policy sees the conversation's last turns."""
        policy = make_policy(self._policy, self._translator, update.language, self._target, list(self._turns))
        uid = update.utterance_id
        return _Utterance(uid, policy, PhraseSplitter(self._target), Spoken(uid))


def _latest(batch: list[SourceUpdate | None]) -> list[SourceUpdate]:
    """The updates worth translating: a partial one is skipped when a newer one for its utterance is queued."""
    updates = [update for update in batch if update is not None]
    return [
        update
        for index, update in enumerate(updates)
        if update.final or not any(later.utterance_id == update.utterance_id for later in updates[index + 1 :])
    ]
