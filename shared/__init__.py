"""The package every Studyhall function imports: config, HTTP, validation, auth, store, events, logging."""

import os

# Pydantic looks for plugins among every installed distribution's entry points at its first
# schema build (a few ms of every cold start). Studyhall uses none; an environment that sets
# the variable keeps its own value.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
