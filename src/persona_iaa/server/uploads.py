"""Reading multipart uploads in bounded memory, with a 413 as soon as a limit is crossed.

Why not ``File(...)`` parameters: FastAPI would read the whole form before any of our limits could act
(up to 1,000 files, any size). Here the body streams through Starlette's multipart parser (python-multipart
underneath); each file is spooled to a temporary file beyond ``spool_bytes`` of memory, the body and each
file are counted while they stream, and reading stops at the first byte over a limit. Decoding then
reads one spooled file at a time.
"""

from __future__ import annotations

import dataclasses
from typing import Any, AsyncGenerator, BinaryIO

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from .limits import ServerLimits


class UploadRefused(Exception):
    """A request the server will not read further; ``status`` is the HTTP answer (413, 400, 422)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class Upload:
    """One uploaded file, spooled: ``file`` is positioned at its start."""

    filename: str
    file: BinaryIO
    size: int

    def read(self) -> bytes:
        self.file.seek(0)
        return self.file.read()


class _BoundedParser(MultiPartParser):
    """Starlette's parser with per-file and per-request file-count limits that answer 413."""

    def __init__(self, headers: Headers, stream: AsyncGenerator[bytes, None], limits: ServerLimits):
        super().__init__(headers, stream, max_files=limits.max_files + 1, max_fields=32)
        self.max_part_size = 64 * 1024  # plain (non-file) fields: set here, older Starlettes take no argument
        self.spool_max_size = limits.spool_bytes
        self.limits = limits
        self._file_bytes = 0

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        self._file_bytes = 0
        if self._current_files > self.limits.max_files:
            raise UploadRefused(
                413,
                f"too many files in one request: at most {self.limits.max_files} "
                "(send the rest in another request)",
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is not None:
            self._file_bytes += end - start
            if self._file_bytes > self.limits.max_file_bytes:
                raise UploadRefused(
                    413,
                    f"{self._current_part.file.filename}: larger than {self.limits.max_file_bytes:,} bytes",
                )
        super().on_part_data(data, start, end)


async def _counted(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise UploadRefused(
                413, f"request larger than {limit:,} bytes: send fewer or smaller files per request"
            )
        yield chunk


def _check_headers(request: Request, limits: ServerLimits) -> None:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise UploadRefused(422, "no files: send the photos as multipart/form-data (a form with file fields)")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limits.max_request_bytes:
        raise UploadRefused(
            413,
            f"request larger than {limits.max_request_bytes:,} bytes: "
            "send fewer or smaller files per request",
        )


async def read_uploads(
    request: Request, limits: ServerLimits, field: str
) -> tuple[list[Upload], dict[str, str]]:
    """The files of form field ``field`` in order, and the plain form fields (or :class:`UploadRefused`)."""
    _check_headers(request, limits)
    parser = _BoundedParser(request.headers, _counted(request, limits.max_request_bytes), limits)
    try:
        form = await parser.parse()
    except MultiPartException as exc:  # the parser has closed its spooled files, as for UploadRefused
        raise UploadRefused(400, f"malformed upload: {exc.message}") from None
    uploads: list[Upload] = []
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name == field:
                uploads.append(
                    Upload(value.filename or f"<file {len(uploads) + 1}>", value.file, value.size or 0)
                )
            else:
                value.file.close()
        else:
            fields[name] = value
    return uploads, fields


def close_all(uploads: list[Upload]) -> None:
    """Free the spooled files (memory or temporary files) of a finished request."""
    for upload in uploads:
        upload.file.close()


def multipart_schema(field: str, many: bool, description: str, **extra: Any) -> dict[str, Any]:
    """The OpenAPI request body of an upload endpoint (the reader above is not a FastAPI parameter)."""
    file_schema = {"type": "string", "format": "binary"}
    properties: dict[str, Any] = {
        field: {"type": "array", "items": file_schema} if many else file_schema,
        **extra,
    }
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": [field], "properties": properties}
                }
            },
        }
    }
