"""Offline evaluation of paper-assistant: golden datasets (datasets/, shipped as package
data), metrics, the harness behind `papers eval`, tuning and calibration scripts.

Not part of the product: nothing under `assistant/` imports this package. The `papers`
CLI finds `papers eval` through the `paper_assistant.commands` entry point
(`evals.command:register`); `python -m evals ARGS` is the same command."""
