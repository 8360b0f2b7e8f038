"""Research-paper assistant: parse paper listings, index them, ask questions.

    from assistant import PaperAssistant
    pa = PaperAssistant.open()
"""

from assistant.api import PaperAssistant
from assistant.records import Paper
from assistant.settings import Settings

__all__ = ["PaperAssistant", "Paper", "Settings"]
