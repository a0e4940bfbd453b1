"""Reading delimited text files with errors that name the file and the line."""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise DataError(path, "file not found" if not path.exists() else "is not a file")
    return path


def read_table(
    path: Path,
    columns: dict[str, str],
    sep: str,
    header: bool = False,
    encoding: str = "utf-8",
    usecols: int | None = None,
) -> pd.DataFrame:
    """Read ``path`` as text and convert ``columns`` (name → ``"int"``/``"float"``/``"str"``).

    Only the first ``len(columns)`` fields are named; ``usecols`` says how many fields a line must have
    (default: exactly ``len(columns)``). Any line that is short, long, blank or holds a non-number where a
    number belongs raises a :class:`DataError` naming the 1-based line.
    """
    require_file(path)
    n_fields = usecols or len(columns)
    first = 2 if header else 1
    options = dict(sep=sep, header=None, skiprows=1 if header else 0, encoding=encoding, keep_default_na=False,
                   skip_blank_lines=False, engine="c" if len(sep) == 1 else "python",
                   quoting=csv.QUOTE_MINIMAL if sep == "," else csv.QUOTE_NONE, names=range(n_fields),
                   on_bad_lines="error")
    typed = _read_typed(path, columns, n_fields, options)
    if typed is not None:
        return typed
    try:
        raw = pd.read_csv(path, dtype=str, **options)
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not valid {encoding} text ({exc.reason} at byte {exc.start})") from None
    except pd.errors.ParserError as exc:
        raise DataError(path, f"malformed line: {_parser_reason(exc)}", line=_parser_line(exc, first)) from None
    except pd.errors.EmptyDataError:
        raise DataError(path, "file is empty") from None
    if raw.empty:
        raise DataError(path, "file has no data lines")
    out = {}
    for k, (name, kind) in enumerate(columns.items()):
        col = raw[k]
        empty = col.isna() | (col.str.strip() == "") if kind != "str" else col.isna()
        if empty.any():
            row = int(np.argmax(empty.to_numpy()))
            what = "empty line" if (raw.iloc[row].fillna("") == "").all() else f"missing field '{name}'"
            raise DataError(path, what, line=row + first)
        if kind == "str":
            out[name] = col.to_numpy()
            continue
        values = pd.to_numeric(col.str.strip(), errors="coerce")
        bad = values.isna().to_numpy() | (~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan)))
        if kind == "int":
            bad |= ~bad & (values.fillna(0) % 1 != 0).to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(path, f"field '{name}' is not {'an integer' if kind == 'int' else 'a number'}: "
                                  f"{col.iloc[row]!r}", line=row + first)
        out[name] = values.to_numpy(dtype=np.int64 if kind == "int" else np.float64)
    return pd.DataFrame(out)


def _read_typed(path: Path, columns: dict[str, str], n_fields: int, options: dict) -> pd.DataFrame | None:
    """The table with its numbers parsed by the C parser, or ``None`` if any field needs the text path's checks.

    Holding every field as a Python string costs ~15 s and ~1.5 GB per 10M lines (ML-20M size); the parser's own
    number inference a fraction of that. A column it infers as int64 (float64 too, for a float column) holds only
    fields the text path accepts, to the same value, so a clean file gives the same table; anything else (a bad,
    empty or non-finite field, ``7.0`` in an int column, a column of ``true``, which a forced int dtype would take
    as 1) returns ``None``, and the text path reads the file again to accept it or to name the line.
    """
    if options["engine"] != "c":  # the python engine converts with int()/float(): '1_000', '１２', '.5' → 0
        return None
    text = {k: str for k, kind in enumerate(columns.values()) if kind == "str"}
    try:
        with warnings.catch_warnings():  # chunks inferred as different types: the text path reads the file again
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            raw = pd.read_csv(path, dtype=text | {k: str for k in range(len(columns), n_fields)}, **options)
    except ValueError:  # parser and decoding errors: the text path names them
        return None
    if raw.empty:
        return None
    out = {}
    for k, (name, kind) in enumerate(columns.items()):
        values = raw[k].to_numpy()
        if kind == "str":
            if raw[k].isna().any():  # a short line
                return None
        elif kind == "int" and values.dtype == np.int64:
            pass
        elif kind == "float" and values.dtype in (np.int64, np.float64) and np.isfinite(values).all():
            values = values.astype(np.float64)
        else:
            return None
        out[name] = values
    return pd.DataFrame(out)


def check_range(path: Path, values: np.ndarray, low: float, high: float, name: str, first_line: int,
                step: float | None = None) -> None:
    """Raise naming the first line whose ``name`` lies outside ``[low, high]`` (or off the ``step`` grid)."""
    bad = (values < low) | (values > high)
    if step is not None:
        bad |= np.abs(values / step - np.round(values / step)) > 1e-9
    if bad.any():
        row = int(np.argmax(bad))
        grid = f" in steps of {step:g}" if step is not None else ""
        raise DataError(path, f"{name} {values[row]:g} is outside the scale {low:g}–{high:g}{grid}",
                        line=row + first_line)


def check_unique(path: Path, keys: np.ndarray, name: str, lines: int | np.ndarray, show=None) -> None:
    """Raise on the second occurrence of a repeated key; ``lines`` is the first line number or one per key."""
    order = np.argsort(keys, kind="stable")
    dup = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    if len(dup):
        second = order[dup + 1].min()
        first = np.flatnonzero(keys == keys[second])[0]
        line_of = (lambda r: int(r) + lines) if np.isscalar(lines) else (lambda r: int(lines[r]))
        label = keys[second] if show is None else show(second)
        raise DataError(path, f"duplicate {name} {label} (first on line {line_of(first)})", line=line_of(second))


def _parser_line(exc: Exception, first: int) -> int | None:
    m = re.search(r"line (\d+)", str(exc))
    if not m:
        return None
    # pandas counts lines from the first line it read, 1-based.
    return int(m.group(1)) + (first - 1)


def _parser_reason(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()[-1]
    m = re.search(r"Expected (\d+) fields in line \d+, saw (\d+)", msg)
    if m:
        return f"expected {m.group(1)} fields, found {m.group(2)}"
    return msg
