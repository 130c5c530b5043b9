"""The catalogues of the server's own texts, one messages.po per language (see README.md here)."""
