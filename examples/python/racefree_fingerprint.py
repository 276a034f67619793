"""db.once's request fingerprint in Python: RFC 8785 (JSON Canonicalization
Scheme) of the request, SHA-256 of its UTF-8 bytes, lower-case hex.

A Python service and a Node.js service that share an idempotency scope get the
same fingerprint for the same request, so neither sees the other's retry as a
different request (RF001). Checked against test/vectors/fingerprint.json.

Standard library only. Numbers are IEEE 754 doubles, as in RFC 8785: an int is
converted to float first (2**53 + 1 becomes 2**53, as in JavaScript).
"""

import hashlib
import math

__all__ = ["canonical_json", "fingerprint"]

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def fingerprint(value) -> str:
    """Hex SHA-256 of canonical_json(value): what db.once sends as the fingerprint."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def canonical_json(value) -> str:
    """RFC 8785 text of a JSON value: None, bool, int, float, str, list or tuple, dict with str keys.

    Raises ValueError for NaN, infinities, ints beyond the double range and
    unpaired surrogates (not I-JSON), TypeError for anything else.
    """
    parts = []
    _encode(value, parts)
    return "".join(parts)


def _encode(value, out) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, (int, float)):
        out.append(_number(value))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, dict):
        for name in value:
            if not isinstance(name, str):
                raise TypeError(f"object keys must be str, not {type(name).__name__}")
        out.append("{")
        # RFC 8785 3.2.3: keys sorted by their UTF-16 code units.
        for i, name in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))):
            if i:
                out.append(",")
            out.append(_string(name))
            out.append(":")
            _encode(value[name], out)
        out.append("}")
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")


def _string(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("a string with an unpaired surrogate is not I-JSON (RFC 8785)") from error
    chars = []
    for ch in text:
        if ch in _ESCAPES:
            chars.append(_ESCAPES[ch])
        elif ch < " ":
            chars.append(f"\\u{ord(ch):04x}")
        else:
            chars.append(ch)
    return '"' + "".join(chars) + '"'


def _number(value) -> str:
    """ECMAScript's Number::toString of the double, which RFC 8785 prescribes."""
    x = float(value)  # OverflowError (a ValueError kin) for ints past the double range
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"{value!r} is not a JSON number")
    if x == 0:
        return "0"  # -0 too
    sign = "-" if x < 0 else ""
    # repr() is the shortest text that reads back as the same double, as ECMAScript's.
    mantissa, _, exponent = repr(abs(x)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    significant = (whole + fraction).lstrip("0")
    # x = 0.<digits> * 10**n: n is where the decimal point goes, counted from the left of digits.
    n = len(whole) + int(exponent or 0) - (len(whole) + len(fraction) - len(significant))
    digits = significant.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if e > 0 else '-'}{abs(e)}"
