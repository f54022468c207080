"""What every app shares and none owns: formatting, colours, languages, locks, logs,
spreadsheets, the client's address and the admin's bases.

A leaf: it imports Django, the standard library and third-party libraries, never an app of
the project (the import contract in ``pyproject.toml`` checks it). Not a Django app: it has no
models, templates or template tags, and its strings are translated by the project's catalogue
(``LOCALE_PATHS``).
"""
