"""A small client of the scheduler's Thrift API (AuroraAdmin) over HTTP, as Aurora's client
talks to it: each call is one POST to ``<scheduler_uri>/api`` in Thrift's binary protocol, with
Content-Type and Accept ``application/vnd.apache.thrift.binary``.

Failures are :class:`~aurora.client.ClientError` with one clear line: a scheduler that cannot
be reached (exit 3), a reply that is not a Thrift reply (exit 3), a Response that is not OK or
WARNING (exit 1, its details joined).
"""

from __future__ import annotations

import itertools
import urllib.error
import urllib.request
from typing import Any

from aurora.api import codec
from aurora.client import EXIT_REFUSED, EXIT_UNREACHABLE, ClientError

__all__ = ["SchedulerClient", "SchedulerRefused", "SchedulerUnreachable", "api"]

api = codec.api
_OK_CODES = (codec.ResponseCode.OK, codec.ResponseCode.WARNING)


class SchedulerUnreachable(ClientError):
    exit_code = EXIT_UNREACHABLE


class SchedulerRefused(ClientError):
    exit_code = EXIT_REFUSED

    def __init__(self, message: str, response: Any = None) -> None:
        super().__init__(message)
        self.response = response


def details(response: Any) -> str:
    """The messages of a Response, joined."""
    return "; ".join(d.message for d in (response.details or []) if d.message)


class SchedulerClient:
    """``client.call("getQuota", ownerRole="www-data")`` -> the Response, checked."""

    def __init__(self, url: str, *, timeout: float = 30.0, cluster: str | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.cluster = cluster
        self._seq = itertools.count(1)

    def raw(self, method: str, **args: Any) -> Any:
        """The Response of one call, whatever its code."""
        body = codec.encode_call(method, args, next(self._seq), "binary")
        req = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": codec.BINARY_CONTENT_TYPE, "Accept": codec.BINARY_CONTENT_TYPE,
            "User-Agent": "aurora-client-py"})
        where = f"scheduler at {self.url}"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as reply:
                data = reply.read()
        except urllib.error.HTTPError as err:
            raise SchedulerUnreachable(f"{where} answered HTTP {err.code} {err.reason}") from None
        except urllib.error.URLError as err:
            reason = err.reason
            text = getattr(reason, "strerror", None) or str(reason)
            raise SchedulerUnreachable(f"cannot reach the {where}: {text}") from None
        except TimeoutError:
            raise SchedulerUnreachable(f"the {where} did not answer within "
                                       f"{self.timeout:g}s") from None
        except OSError as err:
            raise SchedulerUnreachable(f"cannot reach the {where}: {err.strerror or err}") \
                from None
        try:
            return codec.decode_reply(data, method, "binary")
        except Exception as err:  # a TApplicationException or an unreadable body
            raise SchedulerUnreachable(f"{method}: bad reply from the {where}: {err}") from None

    def call(self, method: str, **args: Any) -> Any:
        """The Response of one call; a code other than OK or WARNING raises SchedulerRefused."""
        response = self.raw(method, **args)
        if response is None:
            raise SchedulerUnreachable(f"{method}: the scheduler sent an empty reply")
        if response.responseCode not in _OK_CODES:
            try:
                code = codec.ResponseCode(response.responseCode).name
            except ValueError:
                code = str(response.responseCode)
            raise SchedulerRefused(f"{method} failed ({code}): {details(response) or 'no details'}",
                                   response)
        return response
