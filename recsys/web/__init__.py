"""The chat page: the only subpackage that imports Gradio, plus its Gradio-free pieces."""

from .stubs import skip_stub_writer

skip_stub_writer()  # before any module here imports gradio: ~1.5 s off every start (stubs.py says why)
