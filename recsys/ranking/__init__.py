"""Choosing the films shown: candidates, feature rows, the learned ranker (or the hand-set blend), then MMR."""
