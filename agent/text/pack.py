"""What one language tells the phrase splitter and the normaliser, in the shape both read.

A `LanguagePack` subclass per language (`agent/text/en.py`, `de.py`, `zh.py`, `ko.py`) gives the phrase limits,
its abbreviations, where a long phrase is best cut, and how numbers, times, money and units are read aloud. The
spelling of a number is the library's (num2words, cn2an); which number is a year, a phone number or a price, and
what is attached to it, is ours.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import NamedTuple

CLOCK = r"(?<![\d:.,])(?P<hour>[01]?\d|2[0-4]):(?P<minute>[0-5]\d)(?![\d:])"
NEXT_WORD = re.compile(r"\s+([^\W\d_]+)")
UNITS = ("$", "€", "£", "¥", "₩", "%", "°C", "°F", "°", "km", "kg", "cm", "mm", "km/h")
"""The unit symbols every pack reads; "℃", "℉" and "￥" are read as "°C", "°F" and "¥"."""
CURRENCIES = ("$", "€", "£", "¥", "₩")
DEGREES = ("°C", "°F", "°")


class Boundary(Enum):
    """A place the text could be cut, and how good a cut it is."""

    CUT = "cut"  # a sentence or clause end: cut here once the phrase is long enough
    CLAUSE = "clause"  # the best cut in a phrase that grows too long: weak comma, conjunction, clause ending
    PHRASE = "phrase"  # the next best: before a preposition
    PLAIN = "plain"  # any other word boundary
    UNKNOWN = "unknown"  # the text so far cannot tell yet: wait for more


class Abbreviation(NamedTuple):
    """A word written with a period that does not end a sentence ("Dr. Smith"), and how it is said."""

    written: str  # with its periods and without spaces: "z.B." also matches "z. B."
    spoken: str = ""  # what the TTS hears instead; empty leaves it as written ("p.m.")
    final: bool = False  # it often ends a sentence: a capital after it starts a new one ("at 5 p.m. Then")
    before_number: bool = False  # spoken out only before a number: "No. 7", but "Say no. Then"

    @property
    def key(self) -> str:
        """How the splitter finds it: lowercase, without its last period ("z.b")."""
        return self.written.lower().removesuffix(".")


class Unit(NamedTuple):
    """How a unit symbol is read around its number: "섭씨 이십오 도", "one degree", "twenty-five degrees"."""

    one: str  # after the number 1
    many: str | None = None  # after any other number; None when it is `one` again
    before: str = ""  # before the number

    def after(self, single: bool) -> str:
        return self.one if single or self.many is None else self.many


class Amount(NamedTuple):
    """A number as written: its digits without separators, its parts, and what is attached to it."""

    digits: str
    whole: int
    fraction: str  # digits after the decimal separator
    unit: str  # one of `UNITS`, before or after the number
    scale: str  # "million", "Mio.", "万", ...
    negative: bool
    suffix: str  # English "st", "nd", "rd", "th" or a decade's "s"


def word_end(text: str, i: int) -> int:
    while i < len(text) and text[i].isalpha():
        i += 1
    return i


def word_before_number(text: str, i: int) -> str:
    """The word before the number that ends at text[i]: "am" in "am 3."."""
    end = i
    while end > 0 and text[end - 1].isdigit():
        end -= 1
    while end > 0 and text[end - 1].isspace():
        end -= 1
    start = end
    while start > 0 and text[start - 1].isalpha():
        start -= 1
    return text[start:end]


class LanguagePack:
    """One language, for the splitter and the normaliser; a subclass fills in the data and its special readings.

    `limits` is (min_chars, max_chars) of a phrase: about 1.5 s of speech (a few words, enough for natural
    prosody) to 4.5 s. The TTS starts a phrase only once its text is complete, so while the translation streams
    without punctuation the listener waits up to max_chars: 4.5 s keeps that near a human interpreter's lag, and a
    clause that long still sounds natural.
    """

    limits: tuple[int, int]
    abbreviations: tuple[Abbreviation, ...] = ()
    conjunctions: frozenset[str] = frozenset()  # a long phrase is best cut before these words...
    prepositions: frozenset[str] = frozenset()  # ...else before these
    period_ordinals = False  # ordinals are written as a number and a period ("am 3. Mai")

    number_pattern = r"\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?"  # 1,000.5
    scales = r"(?!)"  # words that multiply the number before them
    suffixes = r"(?!)"
    clock = CLOCK
    joiner = " "  # between the words of a number
    groups = ", "  # between the digit groups of a phone number
    minus = "minus"
    point = "point"
    to = " to "  # a range: "3-5"
    per: str | None = None  # "€/Monat"; None leaves the slash
    units: dict[str, Unit] = {}  # for every one of `UNITS`
    symbols: dict[str, str] = {}  # what is left of "&", "+", "@", "%" once the numbers are read

    # the splitter

    def cuts_between(self, before: str, after: str) -> bool:
        """Whether a long phrase may be cut between two characters with no space between them."""
        return False

    def comma(self, after: str) -> Boundary:
        """A comma followed by a space and `after`."""
        return Boundary.CUT

    def is_ordinal(self, before: str, after: str) -> bool:
        """With `period_ordinals`: whether "3." between these two words is an ordinal, not a sentence end."""
        return False

    def boundary(self, text: str, end: int, start: int, final: bool) -> Boundary:
        """How good a cut between text[:end] and text[start:] is, when a long phrase needs one."""
        e = word_end(text, start)
        if e == len(text) and not final:
            return Boundary.UNKNOWN
        word = text[start:e].lower()
        if word in self.conjunctions:
            return Boundary.CLAUSE
        return Boundary.PHRASE if word in self.prepositions else Boundary.PLAIN

    # the normaliser

    def cardinal(self, n: int) -> str:
        raise NotImplementedError

    def digits(self, digits: str) -> str:
        """A code or phone number, digit by digit."""
        return self.joiner.join(self.cardinal(int(d)) for d in digits)

    def decimal(self, whole: int, fraction: str) -> str:
        return self.joiner.join((self.cardinal(whole), self.point, self.digits(fraction)))

    def time(self, hour: int, minute: int, after: str) -> str:
        """A clock time; `after` is the text that follows it."""
        raise NotImplementedError

    def clock_time(self, m: re.Match[str]) -> str:
        """A match of `clock`, read aloud."""
        return self.time(int(m["hour"]), int(m["minute"]), m.string[m.end() :])

    def parse(self, number: str) -> tuple[int, str]:
        """A match of `number_pattern` as its whole part and the digits of its fraction."""
        whole, _, fraction = number.replace(",", "").partition(".")
        return int(whole), fraction

    def before_numbers(self, text: str) -> str:
        """A language's own rewriting before numbers are read (German ordinals)."""
        return text

    def number(self, amount: Amount) -> str:
        return self.decimal(amount.whole, amount.fraction) if amount.fraction else self.cardinal(amount.whole)

    def say(self, amount: Amount, m: re.Match[str]) -> str:
        """The words for one number with what is attached to it; languages add their special readings."""
        return self.compose(amount, self.number(amount))

    def compose(self, amount: Amount, words: str, scale: str | None = None) -> str:
        """The number's words with its sign, scale and unit around them."""
        unit = self.units.get(amount.unit, Unit(""))
        single = amount.whole == 1 and not amount.fraction and not amount.scale
        sign = self.minus if amount.negative else ""
        scale = amount.scale if scale is None else scale
        return self.joiner.join(part for part in (unit.before, sign, words, scale, unit.after(single)) if part)
