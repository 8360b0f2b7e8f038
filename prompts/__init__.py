"""The prompt templates (*.txt), installed as the package `assistant.data.prompts`
(pyproject.toml maps this folder there); read them through `assistant.data.prompts_dir()`."""
