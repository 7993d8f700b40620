"""Sentence embeddings of the catalog and filtered top-k search over them."""
