"""Dataset profiles: one YAML file per dataset in ``configs/``.

A profile is decoded straight into frozen msgspec Structs with
``forbid_unknown_fields``: a typo such as ``bach_size`` is an error naming the key,
never a silently ignored setting. Relative data paths are resolved against the
profile's own directory, so a profile means the same thing from any working
directory. Command-line flags override fields through ``with_overrides``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec

from orderflow.core.errors import InputFileError, ProfileError
from orderflow.store.discovery import discover_databases

__all__ = ["AlertSettings", "BacktestSettings", "Profile", "load_profile"]

Positive = Annotated[int, msgspec.Meta(gt=0)]
LevelCount = Annotated[int, msgspec.Meta(gt=0, le=2**31 - 1)]
"""A number of book levels: beyond any book, within what the wire and the kernel carry."""
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]


class AlertSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Thresholds for alerts (and the lines drawn on the dashboard's OBI panel)."""

    obi_threshold: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.6
    """Alert when |OBI| exceeds this (unitless, 0..1). Default 0.6."""
    obi_min_snapshots: Positive = 5
    """... for at least this many consecutive snapshots. Default 5."""
    cvd_window_s: PositiveSeconds = 60.0
    """Rolling window for the CVD-change alert, seconds. Default 60."""
    cvd_change_threshold: Annotated[float, msgspec.Meta(gt=0)] | None = None
    """Alert when |CVD change| over the window exceeds this (base units). Default: off."""
    cvd_change_thresholds: dict[str, Annotated[float, msgspec.Meta(gt=0)]] = msgspec.field(
        default_factory=dict
    )
    """Per-instrument overrides of ``cvd_change_threshold`` (CVD is in each
    instrument's base units: 25 BTC and 25 ETH are not the same flow). Default: none."""

    ofi_window_s: PositiveSeconds = 10.0
    """Rolling window for the OFI-sum alert, seconds. Default 10."""
    ofi_sum_threshold: Annotated[float, msgspec.Meta(gt=0)] | None = None
    """Alert when |OFI summed over the window| exceeds this (base units). Default: off."""
    ofi_sum_thresholds: dict[str, Annotated[float, msgspec.Meta(gt=0)]] = msgspec.field(
        default_factory=dict
    )
    """Per-instrument overrides of ``ofi_sum_threshold`` (OFI is in base units). Default: none."""

    def cvd_threshold_for(self, instrument: str) -> float | None:
        return self.cvd_change_thresholds.get(instrument, self.cvd_change_threshold)

    def ofi_threshold_for(self, instrument: str) -> float | None:
        return self.ofi_sum_thresholds.get(instrument, self.ofi_sum_threshold)


class BacktestSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Defaults for ``orderflow-backtest``; flags override each field."""

    strategy: str = "obi-threshold"
    """Built-in name (``obi-threshold``, ``cvd-momentum``) or ``module:Class``."""
    params: dict[str, float | int | str] = msgspec.field(default_factory=dict)
    """Strategy parameters, e.g. ``{theta: 0.3}``."""
    fee_bps: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    """Fee in basis points of notional per fill. Default 0."""
    latency_ms: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    """Order-to-fill delay in ms; 0 means the next snapshot. Default 0."""
    position_limit: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    """Largest absolute position, in base units. Default 1."""


class Profile(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Everything Orderflow needs to know about one dataset."""

    paths: list[str]
    """Database files, directories or globs (relative to this profile's directory)."""
    name: str = ""
    """Display name; defaults to the profile's file name."""
    instruments: list[str] = msgspec.field(default_factory=list)
    """Instruments to process; empty means every instrument in the files."""
    obi_depth: LevelCount | None = None
    """Top-N levels by price per side for OBI; null (default) means all levels."""
    ofi_levels: LevelCount = 5
    """Levels M of multi-level OFI (``mlofi``, metrics.md). Default 5."""
    heatmap_bucket_ms: NonNegative = 1000
    """Depth heatmap bucket width ``w``, milliseconds (metrics.md); 0 computes no
    heatmap (on the Python path it adds about 10% to a worker's instructions per
    snapshot, ``bench/python_path_cost.py``). Default 1000."""
    heatmap_ticks: dict[str, Annotated[float, msgspec.Meta(gt=0)]] = msgspec.field(
        default_factory=dict
    )
    """Heatmap price bin width per instrument; an instrument not listed gets the
    smallest gap between distinct prices in a sample of the file (metrics.md,
    ``orderflow.store.heatmap_ticks``). Default: all inferred."""
    batch_size: Positive = 1000
    """Metrics rows per write transaction. Default 1000 (the seed's)."""
    log_frequency: Positive = 20
    """Progress reports per database run. Default 20."""
    candle_window_s: PositiveSeconds = 60.0
    """Default OHLC candle window on the dashboard, seconds. Default 60."""
    max_bars: Positive = 500
    """Most points per dashboard panel. Default 500."""
    workers: NonNegative = 2
    """Local worker processes for orderflow-coord; 0 runs in-process. Default 2."""
    alerts: AlertSettings = msgspec.field(default_factory=AlertSettings)
    backtest: BacktestSettings = msgspec.field(default_factory=BacktestSettings)
    source: str = ""
    """The file this profile's ``paths`` came from (set by load_profile, not in YAML);
    empty once command-line paths replace them."""

    def with_overrides(self, **changes: Any) -> Profile:
        """A copy with the given fields replaced; ``None`` values mean 'not given'."""
        given = {k: v for k, v in changes.items() if v is not None}
        if "paths" in given:
            given["source"] = ""
        return msgspec.structs.replace(self, **given) if given else self

    def databases(self) -> list[Path]:
        """The recordings ``paths`` names; a path from the profile that matches
        nothing is a ProfileError naming the profile and the entry."""
        try:
            return discover_databases(self.paths)
        except InputFileError as exc:
            if self.source and exc.path in self.paths:
                index = self.paths.index(exc.path)
                raise ProfileError(
                    self.source, f"paths[{index}] {exc.path}: {exc.problem}"
                ) from None
            raise


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile; raises ProfileError naming the file and the key."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ProfileError(p, "profile file not found") from None
    except OSError as exc:
        raise ProfileError(p, f"cannot read profile ({exc.strerror})") from None
    try:
        profile = msgspec.yaml.decode(raw, type=Profile)
    except msgspec.ValidationError as exc:
        raise ProfileError(p, f"invalid profile: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ProfileError(p, f"not valid YAML: {' '.join(str(exc).split())}") from None
    base = p.resolve().parent
    paths = [
        str(base / entry) if not Path(entry).is_absolute() else entry for entry in profile.paths
    ]
    return msgspec.structs.replace(profile, paths=paths, name=profile.name or p.stem, source=str(p))
