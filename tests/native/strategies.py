"""Hypothesis strategies for the kernel's differential tests: number texts, order-book
sides and timestamp cells, from the plain forms recorders write to the odd ones the
kernel must decline."""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["number_texts", "plain_number_texts", "side_texts", "timestamp_cells"]

_digits = st.text(alphabet="0123456789", min_size=1, max_size=21)


@st.composite
def plain_number_texts(draw: st.DrawFn) -> str:
    """Numbers on the kernel's fast path: <= 15 significant digits, small exponents."""
    mantissa = draw(st.integers(0, 10**15 - 1))
    point = draw(st.integers(0, 7))
    text = str(mantissa).rjust(point + 1, "0")
    if point:
        text = text[:-point] + "." + text[-point:]
    exponent = draw(st.integers(-8, 8))
    if exponent:
        text += f"e{exponent}" if exponent < 0 or draw(st.booleans()) else f"E+{exponent}"
    return text


@st.composite
def _any_number_text(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "", "", "-", "+"]))
    whole = draw(_digits)
    text = sign + whole
    if draw(st.booleans()):
        text += "." + draw(st.text(alphabet="0123456789", min_size=0, max_size=21))
    if draw(st.booleans()):
        text += draw(st.sampled_from(["e", "E"])) + draw(st.sampled_from(["", "+", "-"]))
        text += str(draw(st.integers(0, 400)))
    return text


number_texts = st.one_of(
    plain_number_texts(),
    _any_number_text(),
    st.sampled_from(
        [
            "NaN",
            "nan",
            "Infinity",
            "-Infinity",
            "inf",
            "0",
            "-0",
            "00",
            "0.0",
            ".5",
            "5.",
            "1e400",
            "1e-400",
            "\u0661",
            "\uff11",
            "1_0",
            " 1",
            "1 ",
            "0x10",
            "",
            "9007199254740993",
            "9007199254740992",
            "1e22",
            "1e23",
            "1e-22",
            "1e-23",
            "4.9406564584124654e-324",
        ]
    ),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),
)


@st.composite
def _element(draw: st.DrawFn) -> str:
    text = draw(number_texts)
    how = draw(st.sampled_from(["string", "string", "number", "nested", "null", "escaped"]))
    if how == "string":
        return f'"{text}"'
    if how == "number":
        return text or "0"
    if how == "nested":
        return f"[{text or 0}]"
    if how == "escaped":
        return '"\\u0031' + text + '"'
    return "null"


_space = st.sampled_from(["", "", "", " ", "\n", "\t ", "\r\n", "\u00a0"])


@st.composite
def side_texts(draw: st.DrawFn, max_levels: int = 12) -> str:
    """A JSON-ish side: levels of 1-5 elements, numbers as text or JSON numbers,
    whitespace (and a non-JSON space) anywhere, sometimes a broken shape."""
    levels = []
    for _ in range(draw(st.integers(0, max_levels))):
        size = draw(st.sampled_from([2, 2, 4, 4, 4, 3, 1, 5]))
        if draw(st.integers(0, 9)) == 0:
            elements = [draw(_element()) for _ in range(size)]
        else:
            plain = draw(st.booleans())
            elements = [
                f'"{draw(plain_number_texts())}"' if plain else draw(plain_number_texts())
                for _ in range(size)
            ]
        sep = draw(_space)
        levels.append("[" + sep + ("," + draw(_space)).join(elements) + draw(_space) + "]")
    body = "[" + draw(_space) + ("," + draw(_space)).join(levels) + draw(_space) + "]"
    shape = draw(st.integers(0, 30))
    if shape == 0:
        return body[:-1]  # truncated
    if shape == 1:
        return "{" + body + "}"
    if shape == 2:
        return body + ","
    return draw(_space) + body + draw(_space)


@st.composite
def _iso(draw: st.DrawFn) -> str:
    text = (
        f"{draw(st.integers(0, 9999)):04d}-{draw(st.integers(0, 13)):02d}"
        f"-{draw(st.integers(0, 32)):02d}"
    )
    if draw(st.booleans()):
        text += draw(st.sampled_from(["T", " ", "t"]))
        text += f"{draw(st.integers(0, 25)):02d}:{draw(st.integers(0, 61)):02d}"
        if draw(st.booleans()):
            text += f":{draw(st.integers(0, 61)):02d}"
            if draw(st.booleans()):
                text += draw(st.sampled_from([".", ","])) + draw(
                    st.text(alphabet="0123456789", min_size=0, max_size=12)
                )
    zone = draw(st.integers(0, 5))
    if zone == 1:
        text += draw(st.sampled_from(["Z", "z"]))
    elif zone >= 2:
        text += draw(st.sampled_from(["+", "-"])) + f"{draw(st.integers(0, 25)):02d}"
        text += draw(st.sampled_from(["", ":", ":", ""])) + (
            f"{draw(st.integers(0, 61)):02d}" if zone > 2 else ""
        )
    return text


timestamp_cells = st.one_of(
    st.integers(0, 10**19).map(str),
    st.integers(0, 10**17).map(lambda n: f"{n:020d}"),
    st.tuples(st.integers(0, 10**18), st.text(alphabet="0123456789", max_size=20)).map(
        lambda p: f"{p[0]}.{p[1]}"
    ),
    _iso(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from(
        [
            "",
            " 1709294400",
            "1709294400 ",
            "1.",
            ".5",
            "\u0661\u0667",
            "-1",
            "+1709294400",
            "2024-03-01T12:00:00.123Z",
            "2024-03-01 12:00:00+05:30",
            "2024-03-01T12:00+0530",
            "2024-03-01T12:00:00+05:",
            "2024-02-29",
            "2023-02-29",
            "0000-01-01",
            "9999-12-31T23:59:59",
            "1677-09-21T00:12:43.145224191Z",
            "2262-04-11T23:47:16.854775808Z",
            "1e9",
        ]
    ),
    st.text(max_size=30),
)
