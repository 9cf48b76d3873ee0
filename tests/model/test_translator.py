import pytest
import torch

from model.loading import resolve
from model.translator import StopSignal, Translator, TranslatorSettings, Turn, build_messages, clean
from streaming.vocabulary import LANGUAGE_NAMES

LANGS = list(LANGUAGE_NAMES)


def test_clean_keeps_only_the_translation():
    assert clean('  "Guten Morgen."  ') == "Guten Morgen."
    assert clean("「早上好」\n\nNote: this is informal.") == "早上好"
    assert clean("Hallo\n  Welt") == "Hallo Welt"


@pytest.fixture(scope="module")
def translator():
    path = resolve("tiny:translator", "translator model")
    return Translator.load(path, device="cpu", dtype=torch.float32, settings=TranslatorSettings(max_new_tokens=24))


@pytest.mark.slow
@pytest.mark.parametrize("source, target", [(s, t) for s in LANGS for t in LANGS if s != t])
def test_tiny_model_runs_every_direction(translator, source, target):
    text = {"en": "Good morning.", "zh": "早上好。", "de": "Guten Morgen.", "ko": "좋은 아침입니다."}[source]
    out = translator.translate(text, LANGUAGE_NAMES[source], LANGUAGE_NAMES[target])
    assert out.strip(), "random weights still produce some text"
    assert len(translator._tokenizer(out)["input_ids"]) <= 24 + 2


@pytest.mark.slow
def test_empty_and_same_language_need_no_model(translator):
    assert translator.translate("  ", "English", "German") == ""
    assert translator.translate(" Hello there ", "English", "English") == "Hello there"
    assert list(translator.stream("  ", "English", "German")) == []
    assert list(translator.stream(" Hello there ", "English", "English", prefix="Hello")) == [" there"]


def test_messages_name_both_languages_and_carry_context_and_glossary():
    messages = build_messages(
        " Wo ist der Bahnhof? ",
        "German",
        "Korean",
        context=[Turn("Guten Morgen.", "좋은 아침입니다.")],
        glossary={"Bahnhof": "기차역"},
    )
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "German" in messages[0]["content"] and "Korean" in messages[0]["content"]
    assert "Bahnhof -> 기차역" in messages[0]["content"]
    assert messages[1:] == [
        {"role": "user", "content": "Guten Morgen."},
        {"role": "assistant", "content": "좋은 아침입니다."},
        {"role": "user", "content": "Wo ist der Bahnhof?"},
    ]


@pytest.mark.slow
def test_streamed_pieces_make_the_translation_and_a_prefix_is_kept(translator):
    pieces = list(translator.stream("Good morning.", "English", "German"))
    assert len(pieces) > 1
    assert translator.translate("Good morning.", "English", "German") == clean("".join(pieces))
    forced = translator.translate("Good morning.", "English", "German", prefix="Guten")
    assert forced.startswith("Guten")
    context = [Turn("Hello.", "Hallo.")]
    assert translator.translate("Good morning.", "English", "German", context=context).strip()


@pytest.mark.slow
def test_a_stop_or_a_closed_iterator_ends_the_generation_and_frees_the_model(translator):
    stop = StopSignal()
    pieces = translator.stream("Good morning.", "English", "German", stop=stop)
    assert next(pieces)
    stop.set()
    assert list(pieces) == []
    closed = translator.stream("Good morning.", "English", "German")
    assert next(closed)
    closed.close()  # the caller has what it needs: the generation stops and lets go of the model's lock
    assert translator.translate("Good morning.", "English", "German")
