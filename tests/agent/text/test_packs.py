import re

import pytest

from agent.text import speakable
from agent.text.languages import PACKS, pack_for
from agent.text.pack import UNITS, Abbreviation, Boundary, Unit
from streaming.vocabulary import LANGUAGES


def test_every_language_has_a_pack():
    assert set(PACKS) == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_pack_gives_what_the_splitter_needs(language):
    pack = PACKS[language]
    min_chars, max_chars = pack.limits
    assert 0 < min_chars < max_chars
    keys = [each.key for each in pack.abbreviations]
    assert keys and len(keys) == len(set(keys))  # one entry per abbreviation
    assert all(each.written.endswith(".") and " " not in each.written for each in pack.abbreviations)
    assert pack.comma("a") in Boundary and pack.comma("A") in Boundary
    assert pack.boundary("ab cd ef", 2, 3, True) in (Boundary.CLAUSE, Boundary.PHRASE, Boundary.PLAIN)
    assert isinstance(pack.cuts_between("a", "b"), bool)
    assert isinstance(pack.is_ordinal("am", "Mai"), bool)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_pack_gives_what_the_normaliser_needs(language):
    pack = PACKS[language]
    assert set(pack.units) == set(UNITS)
    assert all(isinstance(unit, Unit) and (unit.one or unit.before) for unit in pack.units.values())
    assert set("&+@%") <= set(pack.symbols)
    assert re.fullmatch(pack.number_pattern, "12") and re.search(pack.clock, "um 12:30 ")
    for words in (pack.cardinal(0), pack.digits("0123"), pack.decimal(3, "14"), pack.time(12, 30, "")):
        assert words and not re.search(r"\d", words)


def test_an_unknown_language_is_refused_with_the_languages_served():
    with pytest.raises(ValueError, match=r"unsupported language 'fr': expected one of en, zh, de, ko"):
        pack_for("fr")


def test_an_abbreviation_is_found_by_its_letters_without_the_last_period():
    assert Abbreviation("z.B.", "zum Beispiel").key == "z.b"
    assert Abbreviation("Dr.", "Doctor").key == "dr"


def test_a_unit_without_a_plural_reads_the_same_after_any_number():
    assert Unit("yen").after(single=False) == "yen"
    assert Unit("dollar", "dollars").after(single=False) == "dollars"
    assert Unit("dollar", "dollars").after(single=True) == "dollar"


@pytest.mark.parametrize(
    "language, text, expected",
    [
        (
            "en",
            "101 and 1,001, 2005, the 101st",
            "one hundred one and one thousand one, two thousand five, the one hundred first",
        ),
        ("de", "101.000 und 101.000.000", "einhunderteintausend und einhundertein Millionen"),
        ("zh", "2000、20000、2", "两千、两万、二"),
        ("ko", "20개, 21개, 2시", "스무 개, 스물한 개, 두 시"),
    ],
)
def test_the_libraries_numbers_are_read_as_our_languages_say_them(language, text, expected):
    assert speakable(text, language) == expected
