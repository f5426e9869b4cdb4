from pathlib import Path

import pytest
from tests.recordings import REPO_ROOT

from orderflow.core.errors import InputFileError, ProfileError
from orderflow.profiles.profile import Profile, load_profile


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_demo_profile_loads_with_paths_relative_to_the_profile() -> None:
    profile = load_profile(REPO_ROOT / "configs" / "demo.yaml")
    assert profile.name == "demo"
    assert profile.paths == [str(REPO_ROOT / "configs" / ".." / "demo" / "demo.db")]
    assert profile.alerts.obi_threshold == 0.6
    assert profile.backtest.params["theta"] == 0.7
    assert profile.backtest.params["min_hold_s"] == 30


def test_demo_profile_spells_out_the_order_flow_settings() -> None:
    """Users learn the keys from the demo profile, so it names them (with the defaults)."""
    text = (REPO_ROOT / "configs" / "demo.yaml").read_text()
    keys = {line.split(":")[0] for line in text.splitlines()}
    assert {"ofi_levels", "heatmap_bucket_ms", "heatmap_ticks"} <= keys
    profile = load_profile(REPO_ROOT / "configs" / "demo.yaml")
    assert (profile.ofi_levels, profile.heatmap_bucket_ms, profile.heatmap_ticks) == (5, 1000, {})


def test_defaults(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "paths: [a.db]\n"))
    assert (profile.batch_size, profile.log_frequency, profile.max_bars) == (1000, 20, 500)
    assert profile.candle_window_s == 60.0 and profile.obi_depth is None
    assert profile.ofi_levels == 5
    assert profile.paths == [str(tmp_path / "a.db")]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("paths: [a.db]\nbach_size: 10\n", "bach_size"),
        ("paths: [a.db]\nbatch_size: many\n", "batch_size"),
        ("paths: [a.db]\nbatch_size: 0\n", "batch_size"),
        ("paths: [a.db]\nofi_levels: 0\n", "ofi_levels"),
        ("paths: [a.db]\nalerts:\n  obi_treshold: 0.5\n", "obi_treshold"),
        ("paths: [a.db]\nalerts:\n  obi_threshold: 1.5\n", "alerts.obi_threshold"),
        ("instruments: [X]\n", "paths"),
        ("paths: [a.db\n", "not valid YAML"),
    ],
)
def test_errors_name_the_profile_and_the_key(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert needle in message
    assert "\n" not in message


def test_missing_profile_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="not found"):
        load_profile(tmp_path / "nope.yaml")


def test_flags_override_profile_values() -> None:
    base = Profile(paths=["x"], workers=2, batch_size=1000)
    changed = base.with_overrides(workers=0, batch_size=None, obi_depth=5)
    assert (changed.workers, changed.batch_size, changed.obi_depth) == (0, 1000, 5)


def test_a_profile_path_matching_nothing_names_the_profile_and_entry(tmp_path: Path) -> None:
    path = write(tmp_path, "paths: [here.db, nothere.db]\n")
    (tmp_path / "here.db").write_bytes(b"")
    profile = load_profile(path)
    with pytest.raises(ProfileError) as info:
        profile.databases()
    assert str(info.value).startswith(str(path))
    assert "paths[1]" in str(info.value) and "nothere.db" in str(info.value)
    overridden = profile.with_overrides(paths=[str(tmp_path / "cli.db")])
    with pytest.raises(InputFileError) as plain:  # a command-line path is not the profile's
        overridden.databases()
    assert not isinstance(plain.value, ProfileError) and "cli.db" in str(plain.value)
