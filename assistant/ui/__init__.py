"""The web UI (Gradio): chat with cited answers, method comparison, corpus
browser and upload, backend settings. A thin layer over `PaperAssistant`:
every answer, table and count comes from `assistant.api` (which also locks the
index and keeps uploaded files); this package only lays it out.

    from assistant.ui import build_app, serve
    build_app(PaperAssistant.open()).launch()   # or: serve(PaperAssistant.open(), host, port)

Modules: `render` (HTML/Markdown from library records, the stylesheet; no
Gradio), `handlers` (`PaperUI`, the event handlers), `app` (`build_app`,
`serve`, the layout). Names are loaded on first use, so importing
`assistant.ui.render` does not import Gradio.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["build_app", "serve"]

_NAMES = {"build_app": "app", "serve": "app"}  # loaded from assistant.ui.app on first use


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"assistant.ui.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'assistant.ui' has no attribute {name!r}")
