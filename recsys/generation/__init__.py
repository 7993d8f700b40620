"""Text generators: a local causal LM or an OpenAI-compatible server."""
