"""recsys: a conversational recommender (intent parsing, embedding retrieval, per-user head, grounded explanations).

Importable without Gradio; `app.py` and `python -m recsys` are thin shells over `recsys.engine.Engine`.
"""

__version__ = "0.1.0"
