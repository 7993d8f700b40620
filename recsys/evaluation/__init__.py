"""Offline evaluation and training verbs: replay, quality, reports, cold start, train-meta."""
