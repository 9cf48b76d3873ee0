"""English: about 14 characters of speech a second; numbers spelled by num2words, read the American way."""

from __future__ import annotations

import re

from num2words import num2words

from agent.text.pack import Abbreviation, Amount, LanguagePack, Unit

ABBREVIATIONS = (
    Abbreviation("Mr.", "Mister"),
    Abbreviation("Mrs.", "Missus"),
    Abbreviation("Dr.", "Doctor"),
    Abbreviation("Prof.", "Professor"),
    Abbreviation("e.g.", "for example"),
    Abbreviation("i.e.", "that is"),
    Abbreviation("etc.", "et cetera", final=True),
    Abbreviation("vs.", "versus"),
    Abbreviation("approx.", "approximately"),
    Abbreviation("No.", "number", final=True, before_number=True),
    *(Abbreviation(written) for written in ("Ms.", "St.", "cf.", "fig.")),
    *(Abbreviation(written, final=True) for written in ("Inc.", "Ltd.", "Co.", "Corp.", "Jr.", "Sr.")),
    *(Abbreviation(written, final=True) for written in ("a.m.", "p.m.", "U.S.", "U.K.")),
)
"""Also those of Chinese and Korean text, where Latin abbreviations are English ones."""

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_YEAR_BEFORE = re.compile(
    rf"(?:\b(?:in|since|from|until|till|by|year|around|circa|before|after|during)|\b(?:{_MONTHS})"
    r"(?:\s+\d{1,2}(?:st|nd|rd|th)?,?)?)\s+$",
    re.IGNORECASE,
)
_CENTS = {"$": ("cent", "cents"), "€": ("cent", "cents"), "£": ("penny", "pence")}


def _american(words: str) -> str:
    """num2words writes "one hundred and one", "one thousand, two" and "nineteen oh-five"; we say them without
    the "and", the pause and the hyphen: "one hundred one", "one thousand two", "nineteen oh five"."""
    return words.replace(",", "").replace(" and ", " ").replace("oh-", "oh ")


def _plural(words: str) -> str:
    """A number as a plural noun: the 1990s, in her twenties."""
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


class English(LanguagePack):
    limits = (20, 64)
    abbreviations = ABBREVIATIONS
    conjunctions = frozenset(
        "and but or so because although though while when whereas which who where if unless until since".split()
    )
    prepositions = frozenset(
        "in on at for with from about into over under after before during without through between against across "
        "along around behind near toward towards by".split()
    )
    suffixes = r"st|nd|rd|th|(?<=0)s"  # ordinals, decades
    scales = "thousand|million|billion|trillion"
    per = " per "
    units = {
        "$": Unit("dollar", "dollars"),
        "€": Unit("euro", "euros"),
        "£": Unit("pound", "pounds"),
        "¥": Unit("yen"),
        "₩": Unit("won"),
        "%": Unit("percent"),
        "°C": Unit("degree Celsius", "degrees Celsius"),
        "°F": Unit("degree Fahrenheit", "degrees Fahrenheit"),
        "°": Unit("degree", "degrees"),
        "km": Unit("kilometer", "kilometers"),
        "kg": Unit("kilogram", "kilograms"),
        "cm": Unit("centimeter", "centimeters"),
        "mm": Unit("millimeter", "millimeters"),
        "km/h": Unit("kilometer per hour", "kilometers per hour"),
    }
    symbols = {"&": " and ", "+": " plus ", "@": " at ", "%": " percent "}

    def cardinal(self, n: int) -> str:
        return _american(num2words(n, lang="en"))

    def year(self, n: int) -> str:
        """1999 → nineteen ninety-nine, 1905 → nineteen oh five, 2005 → two thousand five, 2024 → twenty twenty-four."""
        return _american(num2words(n, lang="en", to="year"))

    def time(self, hour: int, minute: int, after: str) -> str:
        if minute == 0:
            return self.cardinal(hour) + ("" if re.match(r"\s?[ap]\.?m\b", after, re.IGNORECASE) else " o'clock")
        return f"{self.cardinal(hour)} {'oh ' if minute < 10 else ''}{self.cardinal(minute)}"

    def say(self, amount: Amount, m: re.Match[str]) -> str:
        if amount.suffix in ("st", "nd", "rd", "th") and not amount.fraction:
            return _american(num2words(amount.whole, lang="en", to="ordinal"))
        year = len(amount.digits) == 4 and 1100 <= amount.whole < 2100 and not (amount.unit or amount.fraction)
        if amount.suffix == "s":
            return _plural(self.year(amount.whole) if year else self.cardinal(amount.whole))
        if year and "," not in m["num"] and _YEAR_BEFORE.search(m.string, 0, m.start()):
            return self.year(amount.whole)
        if amount.unit in _CENTS and len(amount.fraction) == 2 and not amount.scale:
            one, many = _CENTS[amount.unit]
            cents = int(amount.fraction)
            parts = [self.compose(amount._replace(fraction=""), self.cardinal(amount.whole))] if amount.whole else []
            if cents:
                parts.append(f"{self.cardinal(cents)} {one if cents == 1 else many}")
            return " and ".join(parts) if parts else self.compose(amount, "zero")
        return super().say(amount, m)


ENGLISH = English()
