"""HTTP calls to a task's own endpoints: health checks and the /quitquitquit kill sequence.

Aurora's ``HttpSignaler``: a GET (health) or an empty POST (lifecycle) to
``http://localhost:<port><endpoint>`` with a timeout (1 s by default). A call *succeeds* when a
response arrives and, if asked, its body (stripped, case-insensitive) and status code match;
a non-2xx response counts as an empty body with that code, as urllib's HTTPError does there.
Failures come back as a reason string, never as an exception.

The transport is a plain function (:data:`HttpRequester`), so tests and the agent can inject
their own.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["HttpRequester", "HttpResponse", "HttpSignaler", "http_request"]


class HttpResponse(NamedTuple):
    status: int
    body: bytes


#: (method, host, port, path, timeout seconds) -> response; raises OSError/HTTPException.
HttpRequester = Callable[[str, str, int, str, float], HttpResponse]


def http_request(method: str, host: str, port: int, path: str, timeout: float) -> HttpResponse:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=b"" if method == "POST" else None)
        response = conn.getresponse()
        return HttpResponse(response.status, response.read())
    finally:
        conn.close()


def _shorten(text: str, limit: int = 10) -> str:
    return text if len(text) < limit else f"{text[: limit - 3]}..."


class HttpSignaler:
    def __init__(self, port: int, *, host: str = "localhost", timeout: float = 1.0,
                 request: HttpRequester = http_request) -> None:
        self.port = port
        self.host = host
        self.timeout = timeout
        self._request = request

    def url(self, endpoint: str) -> str:
        return f"http://{self.host}:{self.port}{endpoint}"

    def __call__(self, endpoint: str, *, post: bool = False, expected_response: str | None = None,
                 expected_response_code: int = 0) -> tuple[bool, str | None]:
        try:
            response = self._request("POST" if post else "GET", self.host, self.port, endpoint,
                                     self.timeout)
        except TimeoutError:
            return False, f"Failed to signal {self.url(endpoint)}: Error within timeout"
        except (OSError, http.client.HTTPException) as e:
            return False, f"Failed to signal {self.url(endpoint)}: {type(e).__name__}: {e}"
        body = b"" if response.status >= 400 else response.body
        text = body.decode(errors="replace").strip().lower()
        if expected_response and text != expected_response.lower():
            return False, ('Response differs from expected response (expected "'
                           f'{_shorten(expected_response)}", got "{_shorten(text)}")')
        if expected_response_code and response.status != expected_response_code:
            return False, ("Response code differs from expected response (expected "
                           f"{expected_response_code}, got {response.status})")
        return True, None
