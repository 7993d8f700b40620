"""Dialogue state across turns: constraints, references, answers to catalog questions."""
