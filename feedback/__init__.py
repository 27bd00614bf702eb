"""The event log of shown, accepted and rejected suggestions.

`store` keeps one row per completion request in SQLite (`record` says what a row holds,
`outcomes` how feedback decides it, `schema` how the file is versioned), `retention`
checks later whether accepted text is still in the document, `stats` and `report` sum
the log up, and `export` writes it out for other tools.
"""
