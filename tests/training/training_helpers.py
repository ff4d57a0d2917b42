"""Helpers for the training tests: isolated training processes, failure injection, weight comparison.

Child processes come from a ``forkserver`` that imported torch once: they start fast and, unlike a
plain fork of the test process, inherit no OpenMP thread pool (which can deadlock a forked child).
"""
from __future__ import annotations

import dataclasses
import importlib
import multiprocessing
import os
import socket
import traceback
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from safetensors.torch import load_file

from persona_iaa.training.losses import Losses

_CONTEXT = multiprocessing.get_context("forkserver")
# Only third-party modules: the server does not apply the parent's sys.path before preloading (Python
# 3.11), so preloading persona_iaa could pick up another installed copy; children import it themselves.
_CONTEXT.set_forkserver_preload(["torch", "torchvision"])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread for the module's training runs (import this fixture into a test module).

    On a shared 2-core machine OpenMP threads spin-wait on each other: one thread trains these tiny
    runs 10-30 times faster. Child processes call :func:`use_one_thread` themselves.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def use_one_thread() -> None:
    torch.set_num_threads(1)


def run_isolated(target: Callable[..., int], *args: Any, timeout: float = 180) -> int:
    """Run ``target(*args)`` (a module-level function) in a child process; its exit code (-N: killed by N)."""
    process = _CONTEXT.Process(target=_child, args=(target, args))
    process.start()
    process.join(timeout)
    if process.exitcode is None:
        process.kill()
        process.join()
        raise AssertionError(f"{target.__name__} did not finish within {timeout} s")
    return process.exitcode


def _child(target: Callable[..., int], args: tuple) -> None:
    code = 1
    try:
        code = target(*args)
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


@dataclasses.dataclass(frozen=True)
class Interrupt:
    """Send ``signum`` to the training process at the ``call``-th call of ``function``.

    ``function`` is either ``"loss.NAME"`` (one of the run's :class:`Losses`, which the run is given: no
    module is patched) or ``"module.name"`` of ``persona_iaa.training``, patched in the child process.
    With ``cut_write``, ``function`` is an atomic writer: that call leaves half a file under the
    temporary name the real writer would use, then the signal arrives.
    """

    function: str
    call: int
    signum: int
    cut_write: bool = False

    @property
    def on_loss(self) -> bool:
        return self.function.startswith("loss.")

    def _wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        count = [0]

        def interrupting(*args: Any, **kwargs: Any) -> Any:
            count[0] += 1
            if count[0] == self.call:
                if self.cut_write:
                    path = Path(args[0])
                    (path.parent / f".{path.name}.partial").write_bytes(b"\x80half a checkpoint")
                os.kill(os.getpid(), self.signum)
            return original(*args, **kwargs)

        return interrupting

    def losses(self) -> Losses:
        """The paper's losses with the interrupting one in place (for ``loss.NAME``)."""
        name = self.function.split(".", 1)[1]
        return dataclasses.replace(Losses(), **{name: self._wrap(getattr(Losses(), name))})

    def install(self) -> None:
        """Patch ``module.name`` (for writers and other functions that are not a loss)."""
        module_name, name = self.function.rsplit(".", 1)
        module = importlib.import_module(f"persona_iaa.training.{module_name}")
        setattr(module, name, self._wrap(getattr(module, name)))


def train_cli(argv: list[str], interrupt: Interrupt | None = None) -> int:
    """Child process: install the interruption, then run the CLI exactly as a user would."""
    from persona_iaa.cli import main

    use_one_thread()
    if interrupt is not None:
        interrupt.install()
    return main(argv)


def train_with_losses(config_file: str, interrupt: Interrupt) -> int:
    """Child process: train ``config_file`` through the library with the interrupting loss; the CLI's
    exit code (128 + signal) when the run stops on a signal."""
    from persona_iaa.config import load_config
    from persona_iaa.training.protocol import TrainingInterrupted, train

    use_one_thread()
    try:
        train(load_config(config_file), losses=interrupt.losses())
    except TrainingInterrupted as stopped:
        return 128 + stopped.signum
    return 0


def train_interrupted(config_file: Path, interrupt: Interrupt) -> int:
    """Train ``config_file`` in a child process that ``interrupt`` stops; the child's exit code."""
    if interrupt.on_loss:
        return run_isolated(train_with_losses, str(config_file), interrupt)
    return run_isolated(train_cli, ["train", "--config", str(config_file)], interrupt)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "model.safetensors"))


def assert_same_weights(a: Path, b: Path, atol: float = 0.0) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], atol=atol, rtol=0, msg=f"{key} differs")


def run_ranks(target: Callable[..., int], world_size: int, *args: Any, timeout: float = 180) -> list[int]:
    """Run ``target(rank, world_size, port, *args)`` in ``world_size`` child processes; their exit codes."""
    port = free_port()
    processes = [_CONTEXT.Process(target=_child, args=(target, (rank, world_size, port, *args)))
                 for rank in range(world_size)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout)
        if process.exitcode is None:
            for other in processes:
                other.kill()
            raise AssertionError(f"{target.__name__} did not finish within {timeout} s")
    return [process.exitcode for process in processes]


def as_rank(rank: int, world_size: int, port: int) -> None:
    """The environment torchrun gives a worker."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
