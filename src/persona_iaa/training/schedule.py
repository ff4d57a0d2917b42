"""Which task's batch comes next in stage 1: the alternation schedule.

The paper alternates one aesthetic batch (L_a) and one personality batch (L_p) through the shared
network; that pair is one *step*. :class:`AlternationSchedule` makes the pattern explicit so a study
can train, say, two aesthetic batches per personality batch without touching the loop. The aesthetic
data set defines the epoch (a step starts only while aesthetic batches remain); the personality
domain is an endless seeded stream whose position (items consumed) is what resume restarts it from,
so the schedule also owns that bookkeeping (:meth:`AlternationSchedule.advance`).
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any, Iterator, Mapping, Optional, Sequence

from ..data.records import AESTHETIC, PERSONALITY
from ..errors import ConfigError
from .state import PAPER_PATTERN, Stage1Position

TASKS = (AESTHETIC, PERSONALITY)
#: One step's batches in training order: (task name, batch as the loader yields it).
StepBatches = list[tuple[str, Any]]


@dataclasses.dataclass(frozen=True)
class AlternationSchedule:
    """The tasks of one stage-1 step, in the order their batches train; the paper's 1:1 by default."""

    pattern: tuple[str, ...] = PAPER_PATTERN

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", tuple(self.pattern))
        unknown = sorted(set(self.pattern) - set(TASKS))
        if unknown or AESTHETIC not in self.pattern:
            raise ConfigError(f"an alternation pattern names tasks among {', '.join(TASKS)} and at least one "
                              f"{AESTHETIC} batch (which defines the epoch), not {list(self.pattern)}")

    @classmethod
    def ratio(cls, aesthetic: int = 1, personality: int = 1) -> "AlternationSchedule":
        """``aesthetic`` aesthetic batches, then ``personality`` personality batches, per step."""
        if aesthetic < 1 or personality < 0:
            raise ConfigError("a step needs at least one aesthetic batch and no negative count")
        return cls((AESTHETIC,) * aesthetic + (PERSONALITY,) * personality)

    def per_step(self, task: str) -> int:
        return self.pattern.count(task)

    def restricted_to(self, tasks: Sequence[str]) -> "AlternationSchedule":
        """The pattern without the tasks a run does not train (the aesthetic-only baseline)."""
        return AlternationSchedule(tuple(t for t in self.pattern if t in tasks))

    def next_step(self, sources: Mapping[str, Iterator[Any]]) -> Optional[StepBatches]:
        """The batches of the next step, in training order; None once the aesthetic epoch is over.

        The step's aesthetic batches are drawn first (the last step of an epoch may have fewer than the
        pattern asks), so a step that would have no aesthetic batch takes nothing from the other streams.
        """
        drawn: dict[str, list[Any]] = {AESTHETIC: []}
        for _ in range(self.per_step(AESTHETIC)):
            batch = next(sources[AESTHETIC], None)
            if batch is None:
                break
            drawn[AESTHETIC].append(batch)
        if not drawn[AESTHETIC]:
            return None
        for task in TASKS[1:]:
            drawn[task] = [next(sources[task]) for _ in range(self.per_step(task))]
        queues = {task: iter(batches) for task, batches in drawn.items()}
        step = [(task, next(queues[task], None)) for task in self.pattern]
        return [(task, batch) for task, batch in step if batch is not None]

    def advance(self, position: Stage1Position, step: StepBatches, personality_batch: int) -> Stage1Position:
        """The position after ``step``: one more step, its aesthetic batches done in the epoch, and the
        personality stream moved on by its batches (``personality_batch`` items each, the global batch)."""
        counts = Counter(task for task, _ in step)
        return dataclasses.replace(position, step=position.step + 1, batch=position.batch + counts[AESTHETIC],
                                   personality=position.personality + counts[PERSONALITY] * personality_batch)
