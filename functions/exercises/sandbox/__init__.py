"""The coding-exercise sandbox: CPython compiled to WASI under wasmtime, in a child process
with resource limits (runner.py, child.py), its interpreter (assets.py) and compiled-module
cache (modcache.py)."""
