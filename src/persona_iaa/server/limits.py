"""What one server accepts: sizes, counts, concurrency and time, each refused with a clear HTTP answer.

Why a single frozen object: every limit is checked in one place (the upload reader, the admission gate,
the request timer) and validated once at start-up, so ``--max-upload-mb 0`` fails with one line instead
of starting a server that refuses everything.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Optional

from ..errors import ConfigError

MIB = 1024 * 1024
#: Largest accepted upload per file; larger files are refused with HTTP 413 before decoding.
DEFAULT_MAX_UPLOAD_BYTES = 32 * MIB


@dataclasses.dataclass(frozen=True)
class ServerLimits:
    """Limits of one server; every one is enforced before the model sees anything.

    ``max_file_bytes`` per file, ``max_files`` per request and ``max_request_bytes`` per request body
    (HTTP 413 each); ``max_in_flight`` requests are read and scored at once, ``max_queue`` more wait
    for a place, and any further request gets 503 with ``Retry-After`` (so memory in flight is bounded
    by ``max_in_flight`` request bodies, spooled to disk beyond ``spool_bytes`` per file); a request
    that takes longer than ``timeout_s`` gets 504.
    """

    max_file_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_files: int = 100
    max_request_bytes: int = 256 * MIB
    max_in_flight: int = 8
    max_queue: int = 64
    timeout_s: float = 120.0
    spool_bytes: int = 256 * 1024
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        positive = {
            "max upload size per file": self.max_file_bytes,
            "files per request": self.max_files,
            "request size": self.max_request_bytes,
            "requests in flight": self.max_in_flight,
            "request timeout": self.timeout_s,
            "spool size": self.spool_bytes,
            "Retry-After": self.retry_after_s,
        }
        for what, value in positive.items():
            if not value > 0:
                raise ConfigError(f"{what} must be positive, got {value}")
        if self.max_queue < 0:
            raise ConfigError(f"the request queue must be 0 or more, got {self.max_queue}")
        if self.max_request_bytes < self.max_file_bytes:
            raise ConfigError(
                f"the request size limit ({self.max_request_bytes:,} bytes) is below the per-file "
                f"limit ({self.max_file_bytes:,} bytes); raise --max-request-mb"
            )

    @property
    def max_admitted(self) -> int:
        """Requests accepted at once: in flight plus queued; one more is answered 503."""
        return self.max_in_flight + self.max_queue

    def public(self) -> dict[str, float]:
        """The limits a client needs to split its uploads (served by ``/health``)."""
        return {
            "max_file_bytes": self.max_file_bytes,
            "max_files": self.max_files,
            "max_request_bytes": self.max_request_bytes,
            "timeout_s": self.timeout_s,
        }


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine (``localhost``, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, api_key: Optional[str], insecure: bool) -> None:
    """Refuse to serve beyond this machine without a key: anyone on the network could use the model."""
    if not is_loopback(host) and not api_key and not insecure:
        raise ConfigError(
            f"refusing to listen on {host} without an API key: pass --api-key KEY (or set "
            "PERSONA_IAA_API_KEY), or --insecure to serve everyone who can reach this address"
        )


def check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {port}")
