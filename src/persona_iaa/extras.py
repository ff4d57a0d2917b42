"""The optional-extra guard, written once: import a module that an extra installs, or fail in one line.

Why: six copies of ``try: import x except ImportError: raise ...('pip install ...')`` drifted apart
(two still named an extra that no longer installs anything).
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Type

from .errors import PersonaIAAError


def missing_extra_message(extra: str, purpose: str) -> str:
    return f"{purpose} needs the optional extra: pip install 'persona-iaa[{extra}]'"


def require_extra(module: str, extra: str, purpose: str,
                  error: Type[Exception] = PersonaIAAError) -> ModuleType:
    """Import ``module`` (installed by the extra ``extra``) or raise ``error`` with the pip line to fix it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise error(missing_extra_message(extra, purpose)) from None


def has_module(module: str) -> bool:
    """Whether ``module`` imports, for optional speed-ups and tests that need an extra."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
