"""Prometheus metrics of one server (``GET /metrics``), with prometheus_client.

Why a registry per app, not the library's global one: tests and benchmarks start several apps in one
process, and each must count only its own requests.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServerMetrics:
    """Requests, errors, latency, images, batch sizes, queue depth and requests in flight."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg, ns = self.registry, "persona_iaa"
        self.requests = Counter(
            "http_requests", "HTTP requests answered", ["path", "status"], registry=reg, namespace=ns
        )
        self.errors = Counter(
            "http_errors", "HTTP requests answered with a 4xx or 5xx status", ["path", "status"],
            registry=reg, namespace=ns,
        )
        self.latency = Histogram(
            "http_request_seconds", "Time to answer a request", ["path"], buckets=LATENCY_BUCKETS,
            registry=reg, namespace=ns,
        )
        self.images = Counter(
            "images", "Uploaded images by outcome", ["outcome"], registry=reg, namespace=ns
        )
        self.batches = Histogram(
            "batch_size", "Images per model call (dynamic batching)", buckets=BATCH_BUCKETS,
            registry=reg, namespace=ns,
        )
        self.queued = Gauge(
            "requests_queued", "Requests admitted and waiting for a place", registry=reg, namespace=ns
        )
        self.in_flight = Gauge(
            "requests_in_flight", "Requests being read or scored", registry=reg, namespace=ns
        )
        self.rejected = Counter(
            "requests_rejected", "Requests refused with 503 because the queue was full",
            registry=reg, namespace=ns,
        )
        self.images_waiting = Gauge(
            "images_waiting", "Prepared images waiting for a model call", registry=reg, namespace=ns
        )

    def observe(self, path: str, status: int, seconds: float) -> None:
        self.requests.labels(path, str(status)).inc()
        if status >= 400:
            self.errors.labels(path, str(status)).inc()
        self.latency.labels(path).observe(seconds)

    def image(self, ok: bool) -> None:
        self.images.labels("scored" if ok else "error").inc()

    def batch(self, size: int) -> None:
        self.batches.observe(size)

    def render(self, images_waiting: int) -> bytes:
        self.images_waiting.set(images_waiting)
        return generate_latest(self.registry)
