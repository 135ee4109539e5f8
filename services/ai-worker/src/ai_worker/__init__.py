"""ai-worker: the Temporal worker that runs agent steps (model calls) for Stigma."""
