"""Translation policies with scripted, consistent fake translators that stream their answers."""

from collections import deque

from agent.translation import ConsecutivePolicy, SimultaneousPolicy, TranslationDelta, make_policy
from model.translator import clean


class WordByWord:
    """A consistent fake: each source word has one translation, streamed a word at a time after the forced prefix."""

    def __init__(self, changes_mind_on=None):
        self.calls = []
        self.changes_mind_on = changes_mind_on

    def word(self, word, source_so_far):
        if word == self.changes_mind_on and not source_so_far.endswith(word):
            return "T(" + word + ")"
        if word == self.changes_mind_on:
            return "U(" + word + ")"  # the last word of a growing source is often translated differently
        return "T(" + word + ")"

    def stream(self, text, source, target, *, context=(), prefix="", stop=None):
        self.calls.append((text, prefix))
        full = " ".join(self.word(word, text) for word in text.split())
        rest = full[len(prefix) :]
        for index, word in enumerate(rest.split(" ")):
            yield word if index == 0 else " " + word


class Pieces:
    """Streams the given pieces, whatever it is asked, and notes how many it yielded and whether it was closed."""

    def __init__(self, *pieces):
        self.pieces, self.pulled, self.closed = pieces, 0, False

    def stream(self, text, source, target, *, context=(), prefix="", stop=None):
        try:
            for piece in self.pieces:
                self.pulled += 1
                yield piece
        finally:
            self.closed = True


SOURCE = "the meeting starts at nine tomorrow morning"


def _update(policy, text, final) -> TranslationDelta | None:
    """What the old path sees of one update: its stream's last delta."""
    last = deque(policy.stream(text, final), maxlen=1)
    return last[0] if last else None


def _grow(policy, source=SOURCE):
    words = source.split()
    deltas = [_update(policy, " ".join(words[: n + 1]), final=False) for n in range(len(words))]
    deltas.append(_update(policy, source, final=True))
    return [delta for delta in deltas if delta is not None]


def test_consecutive_translates_once_at_the_end():
    fake = WordByWord()
    deltas = _grow(ConsecutivePolicy(fake, "en", "de", []))
    assert len(deltas) == 1 and deltas[0].final
    assert deltas[0].committed == " ".join(f"T({w})" for w in SOURCE.split())
    assert fake.calls == [(SOURCE, "")]


def test_consecutive_commits_the_translation_as_it_streams():
    deltas = list(ConsecutivePolicy(WordByWord(), "en", "de", []).stream("good morning all", final=True))
    assert [d.committed for d in deltas] == ["T(good)", "T(good) T(morning)", "T(good) T(morning) T(all)"] + [
        "T(good) T(morning) T(all)"
    ]
    assert [d.final for d in deltas] == [False, False, False, True]


def test_streamed_text_is_cleaned_as_a_whole_reply_is_and_notes_are_never_pulled():
    reply = ['"Gu', 'ten Morgen,"', " sagte sie", '."', "\n", "\nNote: informal", " register."]
    fake = Pieces(*reply)
    deltas = list(ConsecutivePolicy(fake, "en", "de", []).stream("Good morning, she said.", final=True))
    committed = [d.committed for d in deltas]
    assert committed == ["Gu", "Guten Morgen,", 'Guten Morgen," sagte sie', 'Guten Morgen," sagte sie.'] + [
        'Guten Morgen," sagte sie.'
    ]
    assert committed[-1] == clean("".join(reply))
    for earlier, later in zip(committed, committed[1:], strict=False):
        assert later.startswith(earlier)
    assert fake.pulled == 6 and fake.closed  # the blank line ended the translation: the note's rest never came


def test_simultaneous_commits_early_never_retracts_and_ends_like_consecutive():
    fake = WordByWord(changes_mind_on="nine")
    deltas = _grow(SimultaneousPolicy(fake, "en", "de", []))
    early = [d for d in deltas if not d.final and d.committed]
    assert early, "committed target text before the source was final"
    committed = [d.committed for d in deltas]
    for earlier, later in zip(committed, committed[1:], strict=False):
        assert later.startswith(earlier)
    consecutive = _grow(ConsecutivePolicy(WordByWord(changes_mind_on="nine"), "en", "de", []))[-1]
    assert deltas[-1].final and deltas[-1].committed == consecutive.committed and deltas[-1].tentative == ""
    # every call after the first was forced to continue the committed text
    assert all(prefix == "" or SOURCE.startswith(text) for text, prefix in fake.calls)
    assert any(prefix for _, prefix in fake.calls)


def test_the_unstable_last_word_stays_tentative_until_two_translations_agree():
    policy = SimultaneousPolicy(WordByWord(changes_mind_on="nine"), "en", "de", [])
    _update(policy, "the meeting starts at", final=False)
    delta = _update(policy, "the meeting starts at nine", final=False)
    assert "nine" not in delta.committed and delta.tentative.endswith("U(nine)")
    delta = _update(policy, "the meeting starts at nine tomorrow", final=False)
    assert (delta.committed, delta.tentative) == ("T(the) T(meeting) T(starts) T(at)", "T(nine) T(tomorrow)")
    delta = _update(policy, "the meeting starts at nine tomorrow morning", final=False)
    assert (delta.committed, delta.tentative) == ("T(the) T(meeting) T(starts) T(at) T(nine) T(tomorrow)", "T(morning)")


def test_simultaneous_commits_agreed_words_while_the_translation_still_streams():
    policy = SimultaneousPolicy(WordByWord(), "en", "de", [])
    _update(policy, "the meeting starts", final=False)
    deltas = list(policy.stream("the meeting starts at nine", final=False))
    # "T(the)" is complete once " T(meeting)" begins, and the last translation had it too
    assert [(d.committed, d.tentative) for d in deltas] == [
        ("", "T(the)"),
        ("T(the)", "T(meeting)"),
        ("T(the) T(meeting)", "T(starts)"),
        ("T(the) T(meeting) T(starts)", "T(at)"),
        ("T(the) T(meeting) T(starts)", "T(at) T(nine)"),
        ("T(the) T(meeting) T(starts)", "T(at) T(nine)"),
    ]


def test_a_clause_end_in_the_source_commits_its_whole_translation():
    policy = SimultaneousPolicy(WordByWord(), "en", "de", [])
    delta = _update(policy, "yes, of course,", final=False)
    assert delta.committed == "T(yes,) T(of) T(course,)" and delta.tentative == ""


def test_unchanged_source_costs_no_translation():
    fake = WordByWord()
    policy = make_policy("simultaneous", fake, "en", "de", [])
    _update(policy, "hello there", final=False)
    assert _update(policy, "hello there", final=False) is None
    assert len(fake.calls) == 1
    assert isinstance(make_policy("consecutive", fake, "en", "de", []), ConsecutivePolicy)


def test_the_translator_is_told_the_languages_by_name():
    seen = []

    class Recording:
        def stream(self, text, source, target, *, context=(), prefix="", stop=None):
            seen.append((source, target))
            yield text

    _update(make_policy("consecutive", Recording(), "zh", "de", []), "你好", final=True)
    _update(make_policy("simultaneous", Recording(), "en", "ko", []), "hello", final=False)
    assert seen == [("Mandarin Chinese", "German"), ("English", "Korean")]
