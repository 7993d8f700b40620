"""Reasons: grounding checks and the explanations built on them."""
