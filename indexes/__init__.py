"""The bundled corpus (sources/), installed as the package `assistant.data.indexes`
(pyproject.toml maps this folder there; only sources/ is shipped); read it through
`assistant.data.corpus_dir()`. Indexes built here (`make run`) are not package data."""
