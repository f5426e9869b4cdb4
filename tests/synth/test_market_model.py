import json
import sqlite3
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.synth.ofi_reference import ofi_mid_per_interval

from orderflow.synth._json_text import sides_json
from orderflow.synth.generator import SynthConfig, generate
from orderflow.synth.market import ar1


def test_ofi_over_a_second_moves_the_mid_like_real_books(tmp_path: Path) -> None:
    """Cont et al.: OFI summed over 1 s correlates with the mid change of that second.

    On the Binance BTCUSDT spot recording the figure is 0.64 (651 seconds); the
    generator should land in the same region for its small- and large-tick books.
    """
    path = tmp_path / "ofi.db"
    generate(path, SynthConfig(snapshots=24_000, instruments=4, seed=3))
    for instrument in ("BTC-USDT", "DOGE-USDT"):
        ofi, d_mid = ofi_mid_per_interval(path, instrument)
        assert len(ofi) >= 590
        corr = np.corrcoef(ofi, d_mid)[0, 1]
        assert 0.4 < corr < 0.9, (instrument, corr)
        assert (
            d_mid[ofi > np.quantile(ofi, 0.8)].mean()
            > 0
            > d_mid[ofi < np.quantile(ofi, 0.2)].mean()
        )


def test_walls_stay_at_their_price(tmp_path: Path) -> None:
    """Liquidity sits at fixed prices, so a heatmap shows bands, not noise."""
    path = tmp_path / "walls.db"
    generate(path, SynthConfig(snapshots=3000, instruments=1, seed=4))
    rows = sqlite3.connect(path).execute("SELECT bids FROM book ORDER BY id").fetchall()
    seen: dict[str, list[float]] = {}
    for (bids,) in rows:
        for price, size, *_ in json.loads(bids)[1:]:
            seen.setdefault(price, []).append(float(size))
    means = np.array([np.mean(v) for v in seen.values() if len(v) >= 50])
    assert len(means) > 20
    assert means.max() > 3 * np.median(means)  # walls exist and persist


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**12), st.integers(0, 10**9), st.integers(0, 999)),
        min_size=1,
        max_size=30,
    ),
    st.integers(0, 8),
)
def test_fixed_point_text_is_pythons_formatting(
    levels: list[tuple[int, int, int]], decimals: int
) -> None:
    prices = np.array([[p for p, _, _ in levels]])
    sizes = np.array([[s for _, s, _ in levels]])
    counts = np.array([[c for _, _, c in levels]])
    (text,) = sides_json(prices, sizes, counts, decimals)
    expected = [
        [
            f"{p / 10**decimals:.{decimals}f}" if p < 2**52 else _fixed(p, decimals),
            f"{s / 1000:.3f}",
            "0",
            str(c),
        ]
        for p, s, c in levels
    ]
    assert json.loads(text) == expected
    assert text == json.dumps(expected, separators=(",", ":"))


def _fixed(value: int, decimals: int) -> str:
    whole, frac = divmod(value, 10**decimals)
    return f"{whole}.{frac:0{decimals}d}" if decimals else str(whole)


def test_ar1_is_the_recursion() -> None:
    rng = np.random.default_rng(1)
    shocks = rng.standard_normal(30_000)
    for phi in (0.5, 0.9, 0.995):
        expected = np.empty_like(shocks)
        x = 0.7
        for i, e in enumerate(shocks):
            x = phi * x + e
            expected[i] = x
        np.testing.assert_allclose(ar1(phi, shocks, 0.7), expected, rtol=1e-9, atol=1e-9)
