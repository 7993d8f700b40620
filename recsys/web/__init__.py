"""The chat page: the only subpackage that imports Gradio, plus its Gradio-free pieces."""
