"""The language pack of every language served, and the one error for a language that is not."""

from __future__ import annotations

from agent.text.de import GERMAN
from agent.text.en import ENGLISH
from agent.text.ko import KOREAN
from agent.text.pack import LanguagePack
from agent.text.zh import CHINESE
from streaming.vocabulary import LANGUAGES

PACKS: dict[str, LanguagePack] = {"en": ENGLISH, "zh": CHINESE, "de": GERMAN, "ko": KOREAN}


def pack_for(language: str) -> LanguagePack:
    if language not in PACKS:
        raise ValueError(f"unsupported language {language!r}: expected one of {', '.join(LANGUAGES)}")
    return PACKS[language]
