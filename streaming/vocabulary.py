"""The product's words, defined once: the languages served, how a session translates and whose voice it speaks in,
and the rate every session hears at.

They live in `streaming/` because the wire protocols carry them and `streaming/` may not import `agent/`; the agent
imports them from here, and the model stages take them as arguments (models know only what they can compute).
"""

from __future__ import annotations

LANGUAGES = ("en", "zh", "de", "ko")
"""Languages a speaker may speak and a listener may hear."""

LANGUAGE_NAMES = {"en": "English", "zh": "Mandarin Chinese", "de": "German", "ko": "Korean"}

AUTO = "auto"
SOURCE_LANGUAGES = (AUTO, *LANGUAGES)
"""What a session may be told the speaker speaks: one of the languages, or `auto` to detect it per utterance."""

POLICIES = ("consecutive", "simultaneous")
"""How a session translates (the wire calls it `mode`): each finished utterance, or while the speaker talks."""

VOICE_MODES = ("clone", "default")
"""Whose voice the translation speaks in: the speaker's own, captured live, or the profile's stock voice."""

SESSION_RATE = 16000
"""Samples per second of a session's input, whatever the client sends: the rate silero and whisper take."""
