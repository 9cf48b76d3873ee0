"""Translation policies with a scripted, consistent fake translator."""

from agent.translation import ConsecutivePolicy, SimultaneousPolicy, make_policy


class WordByWord:
    """A consistent fake: each source word has one translation, and a forced prefix is always honoured."""

    def __init__(self, changes_mind_on=None):
        self.calls = []
        self.changes_mind_on = changes_mind_on

    def word(self, word, source_so_far):
        if word == self.changes_mind_on and not source_so_far.endswith(word):
            return "T(" + word + ")"
        if word == self.changes_mind_on:
            return "U(" + word + ")"  # the last word of a growing source is often translated differently
        return "T(" + word + ")"

    def translate(self, text, source, target, *, context=(), prefix=""):
        self.calls.append((text, prefix))
        full = " ".join(self.word(word, text) for word in text.split())
        return full if full.startswith(prefix) else prefix + full[len(prefix) :]


SOURCE = "the meeting starts at nine tomorrow morning"


def _grow(policy, source=SOURCE):
    words = source.split()
    deltas = [policy.update(" ".join(words[: n + 1]), final=False) for n in range(len(words))]
    deltas.append(policy.update(source, final=True))
    return [delta for delta in deltas if delta is not None]


def test_consecutive_translates_once_at_the_end():
    fake = WordByWord()
    deltas = _grow(ConsecutivePolicy(fake, "en", "de", []))
    assert len(deltas) == 1 and deltas[0].final
    assert deltas[0].committed == " ".join(f"T({w})" for w in SOURCE.split())
    assert fake.calls == [(SOURCE, "")]


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
    policy.update("the meeting starts at", final=False)
    delta = policy.update("the meeting starts at nine", final=False)
    assert "nine" not in delta.committed and delta.tentative.endswith("U(nine)")
    delta = policy.update("the meeting starts at nine tomorrow", final=False)
    assert (delta.committed, delta.tentative) == ("T(the) T(meeting) T(starts) T(at)", "T(nine) T(tomorrow)")
    delta = policy.update("the meeting starts at nine tomorrow morning", final=False)
    assert (delta.committed, delta.tentative) == ("T(the) T(meeting) T(starts) T(at) T(nine) T(tomorrow)", "T(morning)")


def test_a_clause_end_in_the_source_commits_its_whole_translation():
    policy = SimultaneousPolicy(WordByWord(), "en", "de", [])
    delta = policy.update("yes, of course,", final=False)
    assert delta.committed == "T(yes,) T(of) T(course,)" and delta.tentative == ""


def test_unchanged_source_costs_no_translation():
    fake = WordByWord()
    policy = make_policy("simultaneous", fake, "en", "de", [])
    policy.update("hello there", final=False)
    assert policy.update("hello there", final=False) is None
    assert len(fake.calls) == 1
    assert isinstance(make_policy("consecutive", fake, "en", "de", []), ConsecutivePolicy)


def test_the_translator_is_told_the_languages_by_name():
    seen = []

    class Recording:
        def translate(self, text, source, target, *, context=(), prefix=""):
            seen.append((source, target))
            return text

    make_policy("consecutive", Recording(), "zh", "de", []).update("你好", final=True)
    make_policy("simultaneous", Recording(), "en", "ko", []).update("hello", final=False)
    assert seen == [("Mandarin Chinese", "German"), ("English", "Korean")]
