"""Routines as data: the dataclasses, and loading + validating routines/*.toml.

Every problem in a routine file becomes one UserError line, `FILE: FIELD: what is wrong (fix)`.
"""

from __future__ import annotations

import stat
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from skill.errors import UserError
from skill.paths import BUILTIN_ROUTINES, config_dir

DEFAULT_ROUTINE = "bedtime-lower-back"
HOLD_KINDS = ("count", "breaths", "seconds")
REPEAT_LIMIT = 20
"""The most rounds of one stretch (and of a "comfortable" one's default): more is a typo, not a routine."""
HOLD_LIMITS = {"count": 100, "breaths": 100, "seconds": 900}
"""The longest hold of each kind that makes sense in bed (and keeps a typo from making a 3-hour hold)."""
PACES = ("slow", "normal")
SIDES = ("right", "left", "both")

HoldKind = Literal["count", "breaths", "seconds"]


@dataclass(frozen=True)
class Hold:
    kind: HoldKind
    amount: float
    """Counts, breaths or seconds."""
    pace: str = "slow"
    """For counts: "slow" (about 1.5 s a count) or "normal"."""


@dataclass(frozen=True)
class Side:
    side: str
    steps: tuple[str, ...]
    hold: Hold
    tip: str | None
    release: str | None


@dataclass(frozen=True)
class Stretch:
    id: str
    name: str
    start: str
    steps: tuple[str, ...]
    sides: tuple[Side, ...]
    """At least one; a stretch with no sides has one side named "" (no side)."""
    again: tuple[str, ...]
    """Said instead of the steps for the second and later repetitions."""
    repeat: int | Literal["comfortable"]


@dataclass(frozen=True)
class Routine:
    id: str
    name: str
    path: Path
    intro: tuple[str, ...]
    outro: tuple[str, ...]
    stretches: tuple[Stretch, ...]
    repeats: int
    """How many times a "repeat as comfortable" stretch goes round when nobody answers."""
    phrases: dict[str, Any]
    """Overrides of skill/data/phrases.toml."""


class _Fields:
    """Reads one TOML table, naming the file and field path in every error."""

    def __init__(self, file: str, path: str, table: Any):
        self.file, self.path = file, path
        if not isinstance(table, dict):
            self.fail(path, "must be a table")
        self.table: dict[str, Any] = table

    def fail(self, field: str, message: str) -> NoReturn:
        raise UserError(f"{self.file}: {field}: {message}")

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.table:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                self.fail(self.field(_key_text(key)), f"unknown field (known fields here: {known})")

    def text(self, key: str, required: bool = True, one_line: bool = False) -> str | None:
        if key not in self.table:
            if required:
                self.fail(self.field(key), "missing (add a line of text for it)")
            return None
        value = self.table[key]
        if not isinstance(value, str):
            self.fail(self.field(key), f"must be text in quotes, not {_type_name(value)}")
        if not value.strip():
            self.fail(self.field(key), "must not be empty")
        if one_line and not value.strip().isprintable():
            self.fail(self.field(key), "must be one line, with no line breaks or tabs")
        return value.strip()

    def texts(self, key: str, required: bool = False) -> tuple[str, ...]:
        if key not in self.table:
            if required:
                self.fail(self.field(key), "missing (add a list of lines, e.g. [\"...\"])")
            return ()
        value = self.table[key]
        if not isinstance(value, list):
            self.fail(self.field(key), f"must be a list of text lines, not {_type_name(value)}")
        for i, line in enumerate(value):
            if not isinstance(line, str):
                self.fail(f"{self.field(key)}[{i}]", f"must be text in quotes, not {_type_name(line)}")
            if not line.strip():
                self.fail(f"{self.field(key)}[{i}]", "must not be empty")
        if required and not value:
            self.fail(self.field(key), "must have at least one line")
        return tuple(line.strip() for line in value)

    def positive(self, key: str, *, whole: bool, default: float | None = None, limit: float | None = None) -> float:
        if key not in self.table:
            if default is None:
                self.fail(self.field(key), "missing (add a positive number)")
            return float(default)
        value = self.table[key]
        kind = "whole number" if whole else "number"
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(self.field(key), f"must be a positive {kind}, not {_type_name(value)}")
        if not 0 < value < float("inf"):
            self.fail(self.field(key), f"must be a positive {kind}")
        if whole and value != int(value):
            self.fail(self.field(key), f"must be a whole number, not {value}")
        if limit is not None and value > limit:
            self.fail(self.field(key), f"must be at most {limit}, not {value}")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: str | None = None) -> str:
        if key not in self.table:
            if default is None:
                self.fail(self.field(key), f"missing (one of: {', '.join(options)})")
            return default
        value = self.table[key]
        if value not in options:
            self.fail(self.field(key), f"must be one of {', '.join(options)}, not {value!r}")
        return value


def _key_text(key: str) -> str:
    """A key as the message shows it: as written when it is a bare TOML key, else quoted with escapes, so a
    key with a line break in it cannot break the one-line message."""
    if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
        return key
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else _escape(c) for c in key) + '"'


def _escape(c: str) -> str:
    return {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(
        c, f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _hold(f: _Fields) -> Hold:
    f.check_keys({"kind", "amount", "pace"})
    kind = f.choice("kind", HOLD_KINDS)
    amount = f.positive("amount", whole=kind != "seconds", limit=HOLD_LIMITS[kind])
    pace = f.choice("pace", PACES, default="slow")
    if kind != "count" and "pace" in f.table:
        f.fail(f.field("pace"), "only counts have a pace (remove it, or use kind = \"count\")")
    return Hold(kind=kind, amount=amount, pace=pace)  # type: ignore[arg-type]


def _stretch(file: str, i: int, table: Any, seen_ids: set[str]) -> Stretch:
    f = _Fields(file, f"stretches[{i}]", table)
    f.check_keys({"id", "name", "start", "steps", "again", "hold", "release", "tip", "repeat", "sides"})
    name = f.text("name", one_line=True)
    assert name is not None
    sid = f.text("id", required=False) or _slug(name)
    if sid in seen_ids:
        f.fail(f.field("id"), f"{sid!r} is used by an earlier stretch (give each stretch its own id)")
    seen_ids.add(sid)
    start = f.text("start")
    steps = f.texts("steps")
    again = f.texts("again")
    release = f.text("release", required=False)
    tip = f.text("tip", required=False)
    hold = _hold(_Fields(file, f.field("hold"), f.table["hold"])) if "hold" in f.table else None
    repeat: int | Literal["comfortable"] = 1
    if "repeat" in f.table:
        raw = f.table["repeat"]
        if raw == "comfortable":
            repeat = "comfortable"
        elif isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= REPEAT_LIMIT:
            repeat = raw
        else:
            f.fail(f.field("repeat"), f'must be a whole number from 1 to {REPEAT_LIMIT}, or "comfortable"')

    sides: list[Side] = []
    raw_sides = f.table.get("sides", [])
    if not isinstance(raw_sides, list):
        f.fail(f.field("sides"), "must be a list of [[stretches.sides]] tables")
    for j, raw_side in enumerate(raw_sides):
        sf = _Fields(file, f"{f.field('sides')}[{j}]", raw_side)
        sf.check_keys({"side", "steps", "hold", "tip", "release"})
        side_hold = _hold(_Fields(file, sf.field("hold"), sf.table["hold"])) if "hold" in sf.table else hold
        if side_hold is None:
            sf.fail(sf.field("hold"), "missing (give the stretch or this side a [hold] table)")
        sides.append(Side(
            side=sf.choice("side", SIDES),
            steps=sf.texts("steps"),
            hold=side_hold,
            tip=sf.text("tip", required=False) or tip,
            release=sf.text("release", required=False) or release,
        ))
    if not sides:
        if hold is None:
            f.fail(f.field("hold"), "missing (add a [stretches.hold] table with kind and amount)")
        sides.append(Side(side="", steps=(), hold=hold, tip=tip, release=release))
    if not steps and not any(s.steps for s in sides):
        f.fail(f.field("steps"), "missing (the stretch or its sides need at least one step)")
    return Stretch(id=sid, name=name, start=start, steps=steps, sides=tuple(sides), again=again,  # type: ignore[arg-type]
                   repeat=repeat)


def _slug(name: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


def parse_routine(text: str, path: Path) -> Routine:
    file = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{file}: not valid TOML: {err} (check quotes and brackets there)") from None
    except RecursionError:
        raise UserError(f"{file}: not valid TOML for a routine: lists or tables nested too deeply") from None
    f = _Fields(file, "", data)
    f.check_keys({"id", "name", "intro", "outro", "repeats", "stretches", "phrases"})
    name = f.text("name", one_line=True)
    rid = f.text("id", required=False) or path.stem
    intro = f.texts("intro", required=True)
    outro = f.texts("outro", required=True)
    repeats = int(f.positive("repeats", whole=True, default=3, limit=REPEAT_LIMIT))
    raw = data.get("stretches")
    if raw is None:
        f.fail("stretches", "missing (add at least one [[stretches]] table)")
    if not isinstance(raw, list) or not raw:
        f.fail("stretches", "must be a list of at least one [[stretches]] table")
    seen: set[str] = set()
    stretches = tuple(_stretch(file, i, s, seen) for i, s in enumerate(raw))
    phrases = data.get("phrases", {})
    _check_phrases(file, phrases)
    assert name is not None
    return Routine(id=rid, name=name, path=path, intro=intro, outro=outro, stretches=stretches,
                   repeats=repeats, phrases=phrases)


def _check_phrases(file: str, phrases: Any) -> None:
    from skill.routine.phrases import default_phrases

    defaults = default_phrases()
    f = _Fields(file, "phrases", phrases)
    f.check_keys(set(defaults))
    for key, value in phrases.items():
        if isinstance(defaults[key], list):
            f.texts(key, required=True)
            if len(value) < len(defaults[key]):
                f.fail(f.field(key), f"needs at least {len(defaults[key])} lines, like the default")
            continue
        f.text(key)
        allowed = _placeholders(defaults[key])
        try:
            used = _placeholders(value)
        except ValueError:
            used = {"?"}
        hint = ", ".join(f"{{{p}}}" for p in sorted(allowed)) or "none"
        if not used <= allowed:
            f.fail(f.field(key), f"unknown placeholder in braces (this phrase can use: {hint})")
        try:
            value.format(**{p: _SAMPLE_VALUES.get(p, "x") for p in allowed})
        except (ValueError, KeyError, IndexError, AttributeError, TypeError) as err:
            f.fail(f.field(key), f"cannot be spoken ({err}): write placeholders plainly, like {hint}")


_SAMPLE_VALUES: dict[str, object] = {"index": 2, "total": 8, "n": 3}
"""What the guide fills a phrase's numeric placeholders with (the others are words), to try each one."""


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


MAX_ROUTINE_BYTES = 1 << 20
"""A routine is a page of text; a bigger file is something else given by mistake."""


def load_routine_file(path: str | Path) -> Routine:
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{path}: not a regular file (give the path of a routine's .toml file)")
        if info.st_size > MAX_ROUTINE_BYTES:
            raise UserError(f"{path}: {info.st_size} bytes is too big for a routine (at most 1 MB)")
        text = path.read_text(encoding="utf-8-sig")  # (a BOM, as some Windows editors write, is not TOML)
    except FileNotFoundError:
        raise UserError(f"{path}: no such routine file (check the path, or run `bedtime-stretch routines`)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read it: {err}") from None
    return parse_routine(text, path)


def routine_dirs() -> list[Path]:
    """Built-in routines, then the user's own (which win on a name clash)."""
    return [BUILTIN_ROUTINES, config_dir() / "routines"]


def available_routines() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in routine_dirs():
        if folder.is_dir():
            for file in sorted(folder.glob("*.toml")):
                found[file.stem] = file
    return found


def load_routine(name_or_path: str | Path | None = None) -> Routine:
    """A routine by name (built-in or the user's own) or by path; None is the default routine."""
    spec = str(name_or_path) if name_or_path is not None else DEFAULT_ROUTINE
    if spec.endswith(".toml") or "/" in spec or Path(spec).is_file():
        return load_routine_file(spec)
    known = available_routines()
    if spec not in known:
        names = ", ".join(sorted(known)) or "none"
        raise UserError(f"{spec}: no routine by that name (known: {names}; or give a path to a .toml file)")
    return load_routine_file(known[spec])
