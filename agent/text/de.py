"""German: about 14 characters of speech a second; numbers spelled by num2words, ordinals written "3."."""

from __future__ import annotations

import re

from num2words import num2words

from agent.text.pack import CLOCK, NEXT_WORD, Abbreviation, Amount, Boundary, LanguagePack, Unit, word_before_number

_MONTHS = frozenset("Januar Jänner Februar März April Mai Juni Juli August September Oktober November Dezember".split())
_BEFORE_ORDINAL = frozenset("am im vom zum beim zur der die das den dem des bis ab seit".split())
_DATIVE = frozenset("am im vom zum beim zur dem den des seit ab".split())
_MILLION, _MILLIARD = ("Million", "Millionen"), ("Milliarde", "Milliarden")
_SCALES = {written: forms for forms in (_MILLION, _MILLIARD, ("Billion", "Billionen")) for written in forms}
_SCALES |= {"Mio.": _MILLION, "Mrd.": _MILLIARD}  # (one, many) of each scale word as written
_FEMININE = ("e", "ung", "heit", "keit", "schaft", "ion", "tät", "ei", "ik")  # "eine Stunde", "eine Million"


def _cardinal(n: int) -> str:
    """num2words, but a multiplier ending in one says "ein", where num2words writes "eins": einhunderteintausend
    (101000), einhundertein Millionen."""
    return re.sub(r"eins(?=tausend| [MB])", "ein", num2words(n, lang="de"))


def _ordinal_stem(n: int) -> str:
    """The ordinal before its ending: 3 → dritt, 20 → zwanzigst, 101 → einhunderterst."""
    return num2words(n, lang="de", to="ordinal").removesuffix("e")


class German(LanguagePack):
    limits = (24, 72)
    abbreviations = (
        Abbreviation("z.B.", "zum Beispiel"),
        Abbreviation("d.h.", "das heißt"),
        Abbreviation("u.a.", "unter anderem"),
        Abbreviation("z.T.", "zum Teil"),
        Abbreviation("usw.", "und so weiter", final=True),
        Abbreviation("bzw.", "beziehungsweise"),
        Abbreviation("ca.", "circa"),
        Abbreviation("Dr.", "Doktor"),
        Abbreviation("Prof.", "Professor"),
        Abbreviation("Nr.", "Nummer"),
        Abbreviation("evtl.", "eventuell"),
        Abbreviation("ggf.", "gegebenenfalls"),
        Abbreviation("inkl.", "inklusive"),
        Abbreviation("vgl.", "vergleiche"),
        Abbreviation("etc.", "et cetera", final=True),
        Abbreviation("Hr.", "Herr"),
        Abbreviation("Fr.", "Frau"),
        Abbreviation("Str.", "Straße"),
        *(Abbreviation(written) for written in ("Mio.", "Mrd.", "St.", "bspw.", "sog.", "zzgl.", "Abs.")),
        Abbreviation("Chr.", final=True),
    )
    conjunctions = frozenset(
        "und aber oder sondern denn doch dass weil wenn ob obwohl damit als nachdem bevor während sodass falls da "
        "indem seit seitdem bis welche welcher welches".split()
    )
    prepositions = frozenset(
        "in im an am auf aus bei beim mit nach von vom zum zur für über unter um gegen ohne durch vor hinter neben "
        "zwischen wegen trotz".split()
    )
    period_ordinals = True
    number_pattern = r"\d{1,3}(?:\.\d{3})+(?!\d)(?:,\d+)?|\d+(?:,\d+)?(?!\d|\.\d)|\d+\.\d+"  # 1.000,5
    scales = r"Millionen|Million|Milliarden|Milliarde|Billionen|Billion|Mio\.|Mrd\."
    clock = rf"{CLOCK}(?:\s?Uhr\b)?|(?<![\d.,])(?P<dhour>[01]?\d|2[0-4])\.(?P<dminute>[0-5]\d)\s?Uhr\b"
    point = "Komma"
    to = " bis "
    per = " pro "
    units = {
        "$": Unit("Dollar"),
        "€": Unit("Euro"),
        "£": Unit("Pfund"),
        "¥": Unit("Yen"),
        "₩": Unit("Won"),
        "%": Unit("Prozent"),
        "°C": Unit("Grad Celsius"),
        "°F": Unit("Grad Fahrenheit"),
        "°": Unit("Grad"),
        "km": Unit("Kilometer"),
        "kg": Unit("Kilogramm"),
        "cm": Unit("Zentimeter"),
        "mm": Unit("Millimeter"),
        "km/h": Unit("Kilometer pro Stunde"),
    }
    symbols = {"&": " und ", "+": " plus ", "@": " at ", "%": " Prozent "}

    def comma(self, after: str) -> Boundary:
        # a German clause starts lowercase; a capital or a digit continues a list ("Äpfel, Birnen")
        return Boundary.CUT if after.islower() else Boundary.CLAUSE

    def is_ordinal(self, before: str, after: str) -> bool:
        return after in _MONTHS or after[:1].islower() or before.lower() in _BEFORE_ORDINAL

    def cardinal(self, n: int) -> str:
        return _cardinal(n)

    def parse(self, number: str) -> tuple[int, str]:
        if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?", number):
            number = number.replace(".", "")
        whole, _, fraction = number.replace(",", ".").partition(".")
        return int(whole), fraction

    def before_numbers(self, text: str) -> str:
        return re.sub(r"(?<![\d.,])([1-9]\d{0,2})\.(?=\s)", self._ordinal, text)

    def _ordinal(self, m: re.Match[str]) -> str:
        after = NEXT_WORD.match(m.string, m.end())
        before = word_before_number(m.string, m.end() - 1)
        if not self.is_ordinal(before, after[1] if after else ""):
            return m[0]
        return _ordinal_stem(int(m[1])) + ("en" if before.lower() in _DATIVE else "e")

    def clock_time(self, m: re.Match[str]) -> str:
        hour, minute = (m["hour"], m["minute"]) if m["hour"] else (m["dhour"], m["dminute"])
        return self.time(int(hour), int(minute), "")

    def time(self, hour: int, minute: int, after: str) -> str:
        return ("ein" if hour == 1 else _cardinal(hour)) + " Uhr" + (f" {_cardinal(minute)}" if minute else "")

    def say(self, amount: Amount, m: re.Match[str]) -> str:
        plain = not (amount.unit or amount.scale or amount.fraction)
        if plain and len(amount.digits) == 4 and 1100 <= amount.whole < 2000:
            return num2words(amount.whole, lang="de", to="year")  # neunzehnhundertneunundneunzig
        scale = ""
        if amount.scale:
            one, many = _SCALES[amount.scale]
            scale = one if amount.whole == 1 and not amount.fraction else many
        whole = self._one(amount, m) if amount.whole == 1 else _cardinal(amount.whole)
        if amount.unit in ("$", "€", "£") and len(amount.fraction) == 2 and not amount.scale:
            cents = _cardinal(int(amount.fraction))
            words = f"{whole} {self.units[amount.unit].one} {cents}" if amount.whole else f"{cents} Cent"
            return f"{self.minus} {words}" if amount.negative else words
        return self.compose(amount, self.decimal(amount.whole, amount.fraction) if amount.fraction else whole, scale)

    def _one(self, amount: Amount, m: re.Match[str]) -> str:
        """1 before a noun: "ein Euro", "eine Million", "eine Stunde"; on its own "eins"."""
        if amount.scale:
            return "eine"
        if amount.unit:
            return "ein"
        after = NEXT_WORD.match(m.string, m.end())
        if after is None or not after[1][0].isupper():
            return "eins"
        return "eine" if after[1].endswith(_FEMININE) else "ein"


GERMAN = German()
