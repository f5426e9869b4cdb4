"""Daily recordings for the tests of a server showing several files."""

from __future__ import annotations

from pathlib import Path

from orderflow.pipeline.storage import Storage
from orderflow.synth.generator import SynthConfig, generate

__all__ = ["consecutive_days"]


def consecutive_days(folder: Path, days: int) -> list[str]:
    """``days`` processed recordings of one instrument, a day apart."""
    paths = []
    for day in range(days):
        path = folder / f"day{day}.db"
        start = f"2024-03-{day + 1:02d}T00:00:00Z"
        generate(path, SynthConfig(snapshots=400, instruments=1, seed=day, start=start))
        Storage(path, quiet=True).build_booktick_from_db()
        paths.append(str(path))
    return paths
