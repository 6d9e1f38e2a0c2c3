"""A model hub on loopback speaking the part of the Hugging Face Hub protocol that downloads use.

`huggingface_hub` (pointed here with HF_ENDPOINT) asks for a repo's revision
(`GET /api/models/{repo}/revision/{rev}`: its commit and files) and its file tree
(`GET /api/models/{repo}/tree/{commit}`: sizes, git blob ids, LFS sha256), then each file's metadata
(`HEAD /{repo}/resolve/{rev}/{file}`: X-Repo-Commit, ETag, Content-Length) and the file itself
(`GET`, with `Range: bytes=N-` to resume). Gated repos answer 401 with `X-Error-Code: GatedRepo`
unless the request carries the repo's token; unknown repos answer 404 with
`X-Error-Code: RepoNotFound`, as the Hub does. `cut` drops the connection once, part-way
through a file, so a client's resume is exercised for real.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str = ""
    token: str | None = None  # set: a gated repo, readable with this token only

    def __post_init__(self) -> None:
        if not self.commit:
            digest = hashlib.sha1(b"".join(k.encode() + v for k, v in sorted(self.files.items())))
            self.commit = digest.hexdigest()


@dataclass
class Hub:
    repos: dict[str, Repo] = field(default_factory=dict)
    cut: tuple[str, int] | None = None  # (file, bytes): its next GET is dropped after that many bytes
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range

    def start(self) -> Hub:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="hub").start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _lfs(name: str) -> bool:
    return name.endswith((".safetensors", ".bin", ".gguf"))


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's object id


def _etag(name: str, data: bytes) -> str:
    """The Hub's ETag: a large (LFS) file's sha256, a small file's git blob id."""
    return hashlib.sha256(data).hexdigest() if _lfs(name) else _blob_id(data)


def _entry(name: str, data: bytes) -> dict[str, Any]:
    """One file of `GET /api/models/{repo}/tree/{rev}`, as the Hub lists it."""
    entry: dict[str, Any] = {"type": "file", "oid": _blob_id(data), "size": len(data), "path": name}
    if _lfs(name):
        entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
    return entry


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self._serve(head=False)

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def _serve(self, head: bool) -> None:
            path = unquote(urlparse(self.path).path)
            hub.requests.append((self.command, path, self.headers.get("Range")))
            if path.startswith("/api/models/") and "/revision/" in path:
                repo_id, _revision = path.removeprefix("/api/models/").split("/revision/", 1)
                if (repo := self._repo(repo_id)) is not None:
                    info = {
                        "id": repo_id,
                        "sha": repo.commit,
                        "private": False,
                        "gated": "manual" if repo.token else False,
                        "siblings": [{"rfilename": name} for name in sorted(repo.files)],
                    }
                    self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, head)
                return
            if path.startswith("/api/models/") and "/tree/" in path:
                repo_id, _rest = path.removeprefix("/api/models/").split("/tree/", 1)
                if (repo := self._repo(repo_id)) is not None:
                    tree = [_entry(name, data) for name, data in sorted(repo.files.items())]
                    self._send(200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, head)
                return
            if "/resolve/" in path:
                repo_id, rest = path.lstrip("/").split("/resolve/", 1)
                _revision, filename = rest.split("/", 1)
                if (repo := self._repo(repo_id)) is None:
                    return
                if filename not in repo.files:
                    self._error(404, "EntryNotFound", f"{filename} does not exist")
                    return
                self._file(repo, filename, repo.files[filename], head)
                return
            self._error(404, "RepoNotFound", "not found")

        def _repo(self, repo_id: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository not found: {repo_id}")
                return None
            if repo.token and self.headers.get("Authorization") != f"Bearer {repo.token}":
                self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted.")
                return None
            return repo

        def _file(self, repo: Repo, filename: str, data: bytes, head: bool) -> None:
            headers = {
                "X-Repo-Commit": repo.commit,
                "ETag": f'"{_etag(filename, data)}"',
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream",
            }
            start = 0
            if (wanted := self.headers.get("Range")) and wanted.startswith("bytes="):
                start = int(wanted.removeprefix("bytes=").split("-", 1)[0] or 0)
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            body = data[start:]
            if head:
                self._send(200, b"", {**headers, "Content-Length": str(len(data))}, head=True)
                return
            cut = None
            if hub.cut is not None and hub.cut[0] == filename:
                cut, hub.cut = hub.cut[1], None
            status = 206 if start else 200
            if cut is not None and cut < len(body):
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # the network drops it part-way
                return
            self._send(status, body, headers)

        def _error(self, status: int, code: str, message: str) -> None:
            body = json.dumps({"error": message}).encode()
            headers = {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}
            self._send(status, body, headers, head=self.command == "HEAD")

        def _send(self, status: int, body: bytes, headers: dict[str, str], head: bool = False) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

    return Handler
