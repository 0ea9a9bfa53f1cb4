"""Beyond one process: batches on Ray, resumable by batch id.

``execute_batch`` runs every task on one asyncio loop, which is the right default: one
process drives thousands of concurrent tasks and the provider's quota sets the pace.
This module covers the two ways to outgrow it:

- `RayEngine`: ``await agent.execute_batch(tasks, engine=RayEngine(workers=4))`` runs
  the batch on Ray async actors (``pip install 'pitstop[ray]'``), for CPU-heavy tools or
  more machines. Results come back in order, with one progress bar, and a worker that
  dies re-runs only the tasks it was running.
- `journal`: ``execute_batch(tasks, batch_id="eval-1")`` (with or without Ray) journals
  every finished result, so running the same batch again after a crash, a kernel
  restart or an interrupted cell runs only the unfinished tasks.
  ``journal("eval-1")`` lists and clears what is journalled.

Importing this module does not import Ray.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pitstop._batch.journal import DEFAULT_TTL, Journal, JournalEntry, default_journal_path
from pitstop._batch.ray_engine import RayEngine, RunStats

__all__ = [
    "DEFAULT_TTL",
    "Journal",
    "JournalEntry",
    "RayEngine",
    "RunStats",
    "default_journal_path",
    "journal",
]


def journal(
    batch_id: str, *, store: str | Path | Any | None = None, ttl: float | None = None
) -> Journal:
    """The journal of one batch: ``len(j)``, ``j.entries()``, ``j.clear()``.

    Args:
        batch_id: the id given to ``execute_batch(..., batch_id=...)``.
        store: where to look: a SQLite file, a ``redis://`` URL, or the `HybridAgent`
            that ran the batch (its Redis, if it has one). None: ``PITSTOP_JOURNAL``, else
            `default_journal_path()` (``~/.cache/pitstop/journal.sqlite3``).
        ttl: seconds entries are kept after the batch's last write (None:
            ``PITSTOP_JOURNAL_TTL`` or `DEFAULT_TTL`, 7 days).
    """
    return Journal(batch_id, store=store, ttl=ttl)
