"""Target text made ready for the TTS: cut into phrases (`splitter.py`) and written out as words (`normaliser.py`),
each language described once in its pack (`en.py`, `de.py`, `zh.py`, `ko.py`, shaped by `pack.py`)."""

from agent.text.normaliser import speakable
from agent.text.splitter import PhraseSplitter

__all__ = ["PhraseSplitter", "speakable"]
