"""What the dashboard process shows: which files, and the profile's display settings.

The command line builds this once and hands it to the Bokeh app through an
environment variable (msgspec JSON), so the same app directory also runs under
a plain ``bokeh serve services/dashboard/app`` with the variable set.
"""

from __future__ import annotations

import os

import msgspec

from orderflow.profiles.profile import Profile

__all__ = ["CONFIG_ENV", "DashboardConfig", "config_from_env"]

CONFIG_ENV = "ORDERFLOW_DASHBOARD_CONFIG"


class DashboardConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    databases: list[str]
    """Resolved SQLite files, in selector order."""
    max_bars: int = 500
    """Buckets per panel; each panel receives at most 4x this many points."""
    candle_window_s: float = 60.0
    """Candle window, seconds, when ``auto_window`` is off."""
    auto_window: bool = True
    """Start with candles that follow the zoom (off when ``--window`` is given)."""
    obi_threshold: float = 0.6
    """|OBI| alert threshold drawn on the OBI panel."""
    refresh_ms: int = 1000
    """How often each page looks for new rows, milliseconds."""
    title: str = "Orderflow"

    @classmethod
    def from_profile(cls, profile: Profile, databases: list[str]) -> DashboardConfig:
        return cls(
            databases=databases,
            max_bars=profile.max_bars,
            candle_window_s=profile.candle_window_s,
            obi_threshold=profile.alerts.obi_threshold,
            title=f"Orderflow: {profile.name}" if profile.name else "Orderflow",
        )


def config_from_env() -> DashboardConfig:
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise RuntimeError(f"{CONFIG_ENV} is not set; start the app with orderflow-dashboard")
    return msgspec.json.decode(raw, type=DashboardConfig)
