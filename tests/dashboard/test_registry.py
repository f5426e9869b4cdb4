"""The server's registry opens files when first shown, keeps at most MAX_OPEN, and
reopens a closed one from its store."""

from __future__ import annotations

from pathlib import Path

import pytest
from orderflow_services.dashboard.config import DashboardConfig
from orderflow_services.dashboard.registry import MAX_OPEN, Registry

from orderflow.core.errors import InputFileError
from orderflow.synth.generator import SynthConfig, generate


def test_lazy_bounded_and_reopened_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERFLOW_CACHE_DIR", str(tmp_path / "cache"))
    paths = []
    for n in range(MAX_OPEN + 1):
        path = tmp_path / f"day{n}.db"
        generate(path, SynthConfig(snapshots=300, instruments=1, seed=n))
        paths.append(str(path))
    registry = Registry()
    registry.open(DashboardConfig(databases=paths))
    assert registry.datasets == {}  # checked, none opened
    try:
        first = registry.get(paths[0])
        assert not first.reused and registry.get(paths[0]) is first
        for path in paths[1:]:
            registry.get(path)
        assert len(registry.datasets) == MAX_OPEN and paths[0] not in registry.datasets
        again = registry.get(paths[0])
        assert again.reused and again.instruments() == ["BTC-USDT"]
    finally:
        registry.close()


def test_a_bad_file_fails_at_open(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_text("not sqlite")
    with pytest.raises(InputFileError):
        Registry().open(DashboardConfig(databases=[str(bad)]))
