"""TEST INFRASTRUCTURE ONLY - never shipped with, or imported by, the product.

A small but real OpenAI-compatible HTTP server on 127.0.0.1 (stdlib
`ThreadingHTTPServer` in a thread, random free port) for exercising
`assistant.llm` through the real `openai` client over real sockets. It is not a
model: every reply is scripted by the test.

Routes: POST /v1/chat/completions (JSON, or SSE when `"stream": true`:
`data: {chunk}\\n\\n` ... `data: [DONE]\\n\\n`, with a final usage chunk when
`stream_options.include_usage` is set), GET /v1/models (each entry with `max_model_len`
when `server.max_model_len` is set, as vLLM does), and, only when scripted, GET /props
(llama.cpp's native server) and POST /api/show (Ollama), and POST /v1/embeddings, answered
with the vectors of `server.embedder` (the FAKE hashing embedder of tests/fake_embedder.py
by default; floats, or base64 as the openai client asks), so a `papers` process can
search an index built with that fake (`embed_backend=openai`). Every other path, including
/chat/completions without /v1, is answered 404 `{"detail": "Not Found"}` as FastAPI-based
servers (llama-cpp-python, vLLM) do.

Scripting:
    server.plan(status=429, headers={"Retry-After": "0"})   # one planned response
    server.plan(status=500)                                 # queued in order
    server.plan(delay=2.0)                                  # answer late (client timeouts)
    server.plan(text="Sparse retrieval [1] helps.")         # this exact reply
    server.plan(chunks=["Spa", "rse"])                      # these exact stream deltas
    server.plan(raw=b"not json")                            # this body, as is
    server.plan(stream_break_after=3)                       # drop the connection after 3 deltas
    server.plan(stream_cut=True)                            # end the stream cleanly after the deltas,
                                                            #   with neither finish_reason nor [DONE]
    server.plan(finish_reason="length")                     # the finish reason sent (default "stop")
    server.plan(empty_stream=True)                          # 200 event-stream headers, then an empty
                                                            #   chunked body: what llama-cpp-python's
                                                            #   server sends when the prompt >= n_ctx
    server.plan_overflow(n_ctx=2048, prompt_tokens=3000)    # 400 context_length_exceeded, OpenAI /
                                                            #   vLLM / llama-cpp-python words
    server.plan_overflow(n_ctx=2048, shape="llama.cpp")     # 400 exceed_context_size_error with n_ctx
    server.plan(usage=False)                                # report no usage
    server.plan(route="/v1/models", status=401)             # plans for another route ("/props",
                                                            #   "/api/show" too: status, delay, raw)
    server.max_model_len = 4096                             # vLLM: /v1/models entries carry it
    server.props = llama_props(n_ctx=2048)                  # llama.cpp: GET /props answers this
    server.ollama_show = ollama_show(context_length=8192,   # Ollama: POST /api/show answers this
                                     num_ctx=4096)          #   (num_ctx optional) for a model in
                                                            #   server.models, else 404 as Ollama does
    server.reply = lambda request_json: "text"              # default when no plan is queued
    server.api_key = "test-key"                             # then other keys get 401
    server.requests                                         # every chat request body (parsed JSON)
    server.embedding_requests                               # every /v1/embeddings request body
    server.plan(route="/v1/embeddings", status=500)         # an embedding request that fails
    server.hits                                             # (method, path) of every request
    server.count("GET", "/props")                           # how many of those hit one route

Use the `llm_server` fixture (function scope) and `server.settings(**overrides)`
(or `llm_settings(server, ...)`) for `Settings` that point at it with short waits.
Register in tests/conftest.py with:  pytest_plugins = ["llm_server"]
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import pytest

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
MODELS = "/v1/models"
PROPS = "/props"
SHOW = "/api/show"


@dataclass
class Plan:
    """One scripted response. Unset fields fall back to a normal 200 answer."""
    route: str = CHAT
    status: int = 200
    headers: dict = field(default_factory=dict)
    text: str | None = None                 # the reply (default: server.reply(request))
    chunks: list[str] | None = None         # exact stream deltas (default: text split after words)
    raw: bytes | None = None                # send this body as is (with content_type)
    content_type: str = "application/json"  # for raw
    error: str | None = None                # error message for status >= 400
    delay: float = 0.0                      # seconds before answering
    chunk_delay: float = 0.0                # seconds between stream chunks
    stream_break_after: int | None = None   # close the socket after this many deltas
    stream_cut: bool = False                # end the stream after the deltas: no finish_reason, no [DONE]
    empty_stream: bool = False              # a 200 event stream with no events at all
    finish_reason: str = "stop"             # the finish reason of the answer
    usage: dict | bool | None = None        # None: default counts; False: none; dict: these numbers
    model: str | None = None                # model name in the answer (default: the requested one)


def llama_props(n_ctx: int = 2048, top_level: bool = False) -> dict:
    """A llama.cpp server's GET /props answer (n_ctx under default_generation_settings,
    or at the top level as some versions put it)."""
    if top_level:
        return {"n_ctx": n_ctx, "total_slots": 1, "model_path": "/models/test.gguf"}
    return {"default_generation_settings": {"n_ctx": n_ctx, "params": {"n_predict": -1, "temperature": 0.8}},
            "total_slots": 1, "model_path": "/models/test.gguf", "chat_template": "", "build_info": "b0-test"}


def ollama_show(context_length: int | None = 8192, num_ctx: int | None = None, arch: str = "llama") -> dict:
    """An Ollama POST /api/show answer: model_info["<arch>.context_length"], and `num_ctx`
    in the `parameters` text when given."""
    parameters = 'stop "<|eot_id|>"'
    if num_ctx is not None:
        parameters = f"num_ctx {num_ctx}\n{parameters}"
    info: dict = {"general.architecture": arch, "general.parameter_count": 8030261248}
    if context_length is not None:
        info[f"{arch}.context_length"] = context_length
    return {"modelfile": "FROM /models/test", "parameters": parameters, "template": "{{ .Prompt }}",
            "details": {"format": "gguf", "family": arch}, "model_info": info}


def split_words(text: str) -> list[str]:
    """'a b  c' -> ['a ', 'b  ', 'c']: deltas whose concatenation is the text."""
    return re.findall(r"\s+\S*\s*|\S+\s*", text) if text else []


class LLMTestServer:
    def __init__(self) -> None:
        self.reply: Callable[[dict], str] = lambda request: "This is a scripted test reply."
        self.models: list[str] = ["test-model"]
        self.max_model_len: int | None = None   # vLLM-style /v1/models field
        self.props: dict | None = None           # GET /props answer (None: 404)
        self.ollama_show: dict | None = None     # POST /api/show answer (None: 404)
        self.api_key: str | None = None
        self.requests: list[Any] = []
        self.embedding_requests: list[Any] = []
        from fake_embedder import HashingFakeEmbedder  # tests/ is on sys.path (see tests/conftest.py)

        self.embedder = HashingFakeEmbedder()  # what POST /v1/embeddings answers with
        self.hits: list[tuple[str, str]] = []
        self._plans: deque[Plan] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- scripting ------------------------------------------------------------------------

    def plan(self, **kwargs) -> Plan:
        plan = Plan(**kwargs)
        with self._lock:
            self._plans.append(plan)
        return plan

    def plan_overflow(self, n_ctx: int = 2048, prompt_tokens: int = 3000, max_tokens: int = 600,
                      shape: str = "openai") -> Plan:
        """A 400 for a request over the context window, in the words of OpenAI, vLLM and
        llama-cpp-python (shape "openai"), or of llama.cpp's native server ("llama.cpp")."""
        if shape == "llama.cpp":
            error = {"code": 400, "message": "the request exceeds the available context size, try increasing it",
                     "type": "exceed_context_size_error", "n_prompt_tokens": prompt_tokens, "n_ctx": n_ctx}
        else:
            error = {"message": f"This model's maximum context length is {n_ctx} tokens. However, you requested "
                                f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} "
                                f"in the completion). Please reduce the length of the messages or completion.",
                     "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}
        return self.plan(status=400, raw=json.dumps({"error": error}).encode())

    def count(self, method: str, path: str) -> int:
        return sum(1 for hit in list(self.hits) if hit == (method, path))

    def pending(self, route: str = CHAT) -> int:
        with self._lock:
            return sum(1 for p in self._plans if p.route == route)

    def _next_plan(self, route: str) -> Plan:
        with self._lock:
            for plan in self._plans:
                if plan.route == route:
                    self._plans.remove(plan)
                    return plan
        return Plan(route=route)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, **overrides):
        return llm_settings(self, **overrides)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> "LLMTestServer":
        server = self

        class Handler(_Handler):
            owner = server

        self._stopping.clear()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"llm-test-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (later connections are refused) and wake delayed handlers."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "LLMTestServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    owner: LLMTestServer
    protocol_version = "HTTP/1.1"  # needed for chunked streams; every response closes its connection

    def log_message(self, format, *args) -> None:  # quiet
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout, OSError):
            pass  # the client gave up (timeout) or we dropped the connection on purpose

    # --- plumbing -------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def _json(self, status: int, obj: Any, headers: dict | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers=headers)

    def _error(self, status: int, message: str, headers: dict | None = None) -> None:
        kind = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 429: "rate_limit_error"}.get(status, "server_error")
        self._json(status, {"error": {"message": message, "type": kind, "param": None, "code": status}}, headers)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _authorized(self) -> bool:
        key = self.owner.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._error(401, "Incorrect API key provided.")
        return False

    def _wait(self, seconds: float) -> bool:
        """Sleep; False if the server is stopping (then just drop the request)."""
        return not (seconds > 0 and self.owner._stopping.wait(seconds))

    # --- routes ---------------------------------------------------------------------------

    def _planned(self, route: str) -> Plan | None:
        """The next plan for `route`, or None when it was answered already
        (refused key, planned delay cut short, raw body, planned error status)."""
        if not self._authorized():
            return None
        plan = self.owner._next_plan(route)
        if not self._wait(plan.delay):
            return None
        if plan.raw is not None:
            self._send(plan.status, plan.raw, plan.content_type, plan.headers)
            return None
        if plan.status != 200:
            self._error(plan.status, plan.error or f"planned status {plan.status}", plan.headers)
            return None
        return plan

    def _not_found(self) -> None:
        """What FastAPI-based servers (llama-cpp-python, vLLM) answer for an unknown path."""
        self._json(404, {"detail": "Not Found"})

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.owner.hits.append(("GET", path))
        if path == PROPS and self.owner.props is not None:
            plan = self._planned(PROPS)
            if plan is not None:
                self._json(200, self.owner.props, plan.headers)
            return
        if path != MODELS:
            return self._not_found()
        plan = self._planned(MODELS)
        if plan is None:
            return
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "tests"} for m in self.owner.models]
        if self.owner.max_model_len is not None:
            for entry in data:
                entry["max_model_len"] = self.owner.max_model_len
        self._json(200, {"object": "list", "data": data}, plan.headers)

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        self.owner.hits.append(("POST", path))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path == SHOW and self.owner.ollama_show is not None:
            try:
                asked = json.loads(raw or b"null")
            except ValueError:
                asked = None
            name = asked.get("model") or asked.get("name") if isinstance(asked, dict) else None
            if name not in self.owner.models:  # what Ollama says for a model it does not have
                return self._json(404, {"error": f"model '{name}' not found"})
            plan = self._planned(SHOW)
            if plan is not None:
                self._json(200, self.owner.ollama_show, plan.headers)
            return
        if path == EMBEDDINGS:
            return self._embeddings(raw)
        if path != CHAT:
            return self._not_found()
        try:
            request = json.loads(raw or b"null")
        except ValueError:
            request = None
        self.owner.requests.append(request)
        if not isinstance(request, dict):
            if self._authorized():
                self._error(400, "the body is not a JSON object")
            return
        plan = self._planned(CHAT)
        if plan is None:
            return
        if plan.chunks is not None:
            chunks = list(plan.chunks)
        else:
            text = plan.text if plan.text is not None else self.owner.reply(request)
            chunks = split_words(text)
        model = plan.model or request.get("model") or "unknown"
        usage = self._usage(plan, request, chunks)
        if request.get("stream"):
            self._stream(plan, request, chunks, model, usage)
        else:
            body = {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "finish_reason": plan.finish_reason,
                                 "message": {"role": "assistant", "content": "".join(chunks)}}]}
            if usage is not None:
                body["usage"] = usage
            self._json(200, body, plan.headers)

    def _embeddings(self, raw: bytes) -> None:
        """OpenAI's /v1/embeddings: `input` a string or a list of strings; `encoding_format`
        "float" (lists) or "base64" (little-endian float32, what the openai client asks for
        unless told otherwise)."""
        import base64

        try:
            request = json.loads(raw or b"null")
        except ValueError:
            request = None
        self.owner.embedding_requests.append(request)
        texts = request.get("input") if isinstance(request, dict) else None
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            if self._authorized():
                self._error(400, "input must be a string or a list of strings")
            return
        plan = self._planned(EMBEDDINGS)
        if plan is None:
            return
        vectors = self.owner.embedder.embed_documents(texts)
        as_base64 = request.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode() if as_base64 else v.tolist()}
                for i, v in enumerate(vectors)]
        tokens = sum(len(t.split()) for t in texts)
        self._json(200, {"object": "list", "data": data, "model": request.get("model") or "unknown",
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}, plan.headers)

    @staticmethod
    def _usage(plan: Plan, request: dict, chunks: list[str]) -> dict | None:
        """Default counts are deliberately simple (words + messages; one per delta) so
        tests can tell them from a tiktoken estimate."""
        if plan.usage is False:
            return None
        if isinstance(plan.usage, dict):
            usage = dict(plan.usage)
        else:
            words = sum(len(str(m.get("content", "")).split()) for m in request.get("messages") or []
                        if isinstance(m, dict))
            usage = {"prompt_tokens": words + len(request.get("messages") or []), "completion_tokens": len(chunks)}
        usage.setdefault("total_tokens", usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))
        return usage

    def _stream(self, plan: Plan, request: dict, chunks: list[str], model: str, usage: dict | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        for k, v in plan.headers.items():
            self.send_header(k, str(v))
        self.end_headers()
        self.close_connection = True
        created = int(time.time())
        if plan.empty_stream:  # headers, then the end of an empty chunked body
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return

        def event(delta: dict | None, finish: str | None = None, usage_: dict | None = None) -> None:
            obj = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if usage_ is not None:
                obj["usage"] = usage_
            self._chunk(b"data: " + json.dumps(obj).encode() + b"\n\n")

        event({"role": "assistant", "content": ""})
        for i, piece in enumerate(chunks):
            if plan.stream_break_after is not None and i >= plan.stream_break_after:
                return self._drop()
            if not self._wait(plan.chunk_delay):
                return self._drop()
            event({"content": piece})
        if plan.stream_break_after is not None and plan.stream_break_after <= len(chunks):
            return self._drop()
        if plan.stream_cut:  # a clean end of the body, but no finish_reason and no [DONE]
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        event({}, finish=plan.finish_reason)
        include = (request.get("stream_options") or {}).get("include_usage")
        if include and usage is not None:
            event(None, usage_=usage)
        self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        """End the connection without finishing the chunked body (a broken stream)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def llm_settings(server: LLMTestServer, **overrides):
    """Settings pointing at `server`, with waits and timeouts short enough for tests."""
    from assistant.settings import Settings

    values = dict(openai_base_url=server.url + "/v1", openai_api_key="test-key", llm_model="test-model",
                  llm_enabled=True, llm_timeout=2.0, llm_max_attempts=3, llm_max_retry_seconds=10.0,
                  llm_retry_initial=0.01, llm_retry_max=0.05)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def llm_server(monkeypatch):
    """A started LLMTestServer, stopped after the test."""
    for name in ("NO_PROXY", "no_proxy"):  # never send 127.0.0.1 through a proxy from the environment
        current = [p for p in os.environ.get(name, "").split(",") if p]
        monkeypatch.setenv(name, ",".join(current + ["127.0.0.1", "localhost"]))
    server = LLMTestServer().start()
    try:
        yield server
    finally:
        server.stop()

