"""The bottom layer: errors, value types, geometry and pure image/file operations.

Everything above (plugins, the run path, batch, training, the CLI and the app) may import
it; it imports nothing of the project (an import-linter contract enforces both, see
docs/architecture.md). Keep it small and free of Qt and of torch at import time.
"""
