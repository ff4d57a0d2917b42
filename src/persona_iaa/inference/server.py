"""Moved to :mod:`persona_iaa.server`; these names stay importable from here."""
from ..server.app import create_app
from ..server.limits import DEFAULT_MAX_UPLOAD_BYTES, ServerLimits
from ..server.run import serve

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "ServerLimits", "create_app", "serve"]
