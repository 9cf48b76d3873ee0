import pytest

from agent.language import LanguagePolicy, LanguageSettings

SETTINGS = LanguageSettings(min_speech_ms=1000, switch_probability=0.8)


def test_a_fixed_language_is_never_detected_away():
    policy = LanguagePolicy("ko", SETTINGS)
    assert policy.fixed and policy.current == "ko"
    assert policy.observe({"en": 1.0}, speech_ms=5000) == "ko"


def test_auto_locks_on_the_first_utterance_with_enough_speech():
    policy = LanguagePolicy("auto", SETTINGS)
    assert policy.current is None
    assert policy.observe({"zh": 0.6, "en": 0.4}, speech_ms=400) == "zh"  # a guess for a short utterance...
    assert policy.current is None  # ...that does not decide the session
    assert policy.observe({"de": 0.7, "en": 0.3}, speech_ms=1500) == "de"
    assert policy.current == "de"


@pytest.mark.parametrize(
    "probabilities, expected",
    [
        ({"en": 0.75, "de": 0.25}, "de"),  # another language, but not confidently: keep
        ({"en": 0.95, "de": 0.05}, "en"),  # confidently another of the four: switch
    ],
)
def test_a_later_utterance_switches_only_when_confident(probabilities, expected):
    policy = LanguagePolicy("auto", SETTINGS)
    policy.observe({"de": 0.9}, speech_ms=2000)
    assert policy.observe(probabilities, speech_ms=2000) == expected
    assert policy.current == expected


def test_short_utterances_never_switch_a_decided_language():
    policy = LanguagePolicy("auto", SETTINGS)
    policy.observe({"ko": 0.9}, speech_ms=3000)
    assert policy.observe({"en": 0.99}, speech_ms=500) == "ko"


def test_only_the_four_languages_are_ever_chosen():
    policy = LanguagePolicy("auto", SETTINGS)
    assert policy.observe({"fr": 0.99, "ko": 0.01}, speech_ms=2000) == "ko"
    assert policy.observe({}, speech_ms=2000) in ("en", "zh", "de", "ko")
