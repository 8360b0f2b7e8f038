"""Research-paper assistant: parse paper listings, index them, ask questions.

from assistant import PaperAssistant
pa = PaperAssistant.open()
"""

from assistant import offline

offline.apply()  # before any library this package uses is imported (a value the user set is kept)

from assistant.api import PaperAssistant  # noqa: E402
from assistant.records import Paper  # noqa: E402
from assistant.settings import Settings  # noqa: E402

__all__ = ["PaperAssistant", "Paper", "Settings"]
