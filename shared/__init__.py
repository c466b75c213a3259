"""The package every Studyhall function imports: config, HTTP, validation, auth, store, events, logging."""
