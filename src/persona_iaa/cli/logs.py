"""How the command line shows the library's log records.

The library logs through ``logging.getLogger(__name__)`` and never prints, so a Python-API user can
silence or redirect it like any library. The command line attaches one handler for the length of a
command: each record's text as it is, on stderr (stdout may carry a result file), written above any
progress bar instead of through it.
"""
from __future__ import annotations

import contextlib
import logging
import sys
from typing import Iterator

from tqdm.contrib.logging import logging_redirect_tqdm

#: The parent of every logger in the library.
LIBRARY_LOGGER = "persona_iaa"


@contextlib.contextmanager
def terminal_logging(level: int = logging.INFO) -> Iterator[logging.Logger]:
    """Print the library's records of ``level`` and above on stderr, then restore the logger as it was.

    Restoring matters because tests and programs call :func:`persona_iaa.cli.main` many times in one
    process: handlers must not pile up, and a level the caller set must come back.
    """
    logger = logging.getLogger(LIBRARY_LOGGER)
    handler = logging.StreamHandler(sys.stderr)  # the stderr of now: pytest's capsys swaps it per test
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        with logging_redirect_tqdm(loggers=[logger]):
            yield logger
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
