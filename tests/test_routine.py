"""Routine files: the built-in one is valid and complete; every malformed one gets exit 2 and one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from skill.cli import main
from skill.routine.definition import load_routine, load_routine_file, parse_routine
from skill.routine.script import spoken_texts

BUILTIN = Path(__file__).resolve().parent.parent / "routines" / "bedtime-lower-back.toml"

GOOD = """
name = "Tiny"
intro = ["Hello."]
outro = ["Sleep tight."]

[[stretches]]
name = "Knee hug"
start = "Lie on your back."
steps = ["Hug your knee."]
hold = { kind = "count", amount = 5 }
"""


def test_builtin_routine_has_the_eight_stretches_in_the_articles_order() -> None:
    routine = load_routine()
    assert [s.id for s in routine.stretches] == [
        "knee-hugs", "thread-the-needle", "gentle-bridge", "knees-together-sway",
        "bottoms-of-the-feet-together", "childs-pose", "pigeon", "spinal-twist",
    ]
    by_id = {s.id: s for s in routine.stretches}
    assert [s.side for s in by_id["knee-hugs"].sides] == ["right", "left", "both"]
    assert all(s.hold.kind == "count" and s.hold.amount == 10 for s in by_id["knee-hugs"].sides)
    assert [s.side for s in by_id["thread-the-needle"].sides] == ["right", "left"]
    assert by_id["gentle-bridge"].repeat == "comfortable"
    assert by_id["gentle-bridge"].sides[0].hold.amount == 5
    assert by_id["knees-together-sway"].sides[0].hold.kind == "breaths"
    assert by_id["childs-pose"].sides[0].hold.amount == 10
    assert by_id["pigeon"].sides[0].hold.kind == "seconds" and by_id["pigeon"].sides[0].hold.amount == 20
    assert "deeper" in (by_id["pigeon"].sides[0].tip or "")
    assert by_id["spinal-twist"].sides[0].hold.amount == 20
    assert "hand on your knees" in (by_id["spinal-twist"].sides[1].tip or "")
    assert routine.outro[-1] == "Sleep tight."
    assert any("say start" in line for line in routine.intro)


def test_spoken_texts_cover_counts_breaths_and_replies() -> None:
    texts = spoken_texts(load_routine())
    for expected in ("One", "Ten", "Breathe in.", "And out.", "Ten more seconds.", "Slowing down.", "Sleep tight."):
        assert expected in texts
    assert len(texts) == len(set(texts))


def test_check_passes_the_builtin_routine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(BUILTIN)]) == 0
    assert "ok" in capsys.readouterr().out


BAD_ROUTINES = {
    "bad toml": ('name = "x\n', "not valid TOML"),
    "unknown top key": (GOOD + 'colour = "blue"\n', "colour: unknown field"),
    "missing name": (GOOD.replace('name = "Tiny"', ""), "name: missing"),
    "name not text": (GOOD.replace('name = "Tiny"', "name = 3"), "name: must be text"),
    "empty intro line": (GOOD.replace('intro = ["Hello."]', 'intro = ["  "]'), "intro[0]: must not be empty"),
    "intro not a list": (GOOD.replace('intro = ["Hello."]', 'intro = "Hello."'), "intro: must be a list"),
    "no stretches": (GOOD.split("[[stretches]]")[0], "stretches: missing"),
    "stretch unknown key": (GOOD + 'colour = "red"\n', "stretches[0].colour: unknown field"),
    "stretch missing start": (GOOD.replace('start = "Lie on your back."', ""), "stretches[0].start: missing"),
    "empty step": (GOOD.replace('steps = ["Hug your knee."]', 'steps = [""]'), "stretches[0].steps[0]: must not be empty"),
    "step not text": (GOOD.replace('steps = ["Hug your knee."]', "steps = [1]"), "stretches[0].steps[0]: must be text"),
    "amount negative": (GOOD.replace("amount = 5", "amount = -2"), "stretches[0].hold.amount: must be a positive"),
    "amount zero": (GOOD.replace("amount = 5", "amount = 0"), "stretches[0].hold.amount: must be a positive"),
    "amount text": (GOOD.replace("amount = 5", 'amount = "ten"'), "stretches[0].hold.amount: must be a positive"),
    "amount fraction of counts": (GOOD.replace("amount = 5", "amount = 2.5"), "stretches[0].hold.amount: must be a whole"),
    "amount missing": (GOOD.replace(", amount = 5", ""), "stretches[0].hold.amount: missing"),
    "kind unknown": (GOOD.replace('kind = "count"', 'kind = "reps"'), "stretches[0].hold.kind: must be one of"),
    "hold missing": (GOOD.replace('hold = { kind = "count", amount = 5 }', ""), "stretches[0].hold: missing"),
    "hold not a table": (GOOD.replace('hold = { kind = "count", amount = 5 }', "hold = 5"), "stretches[0].hold: must be a table"),
    "pace on breaths": (GOOD.replace('kind = "count"', 'kind = "breaths", pace = "slow"'), "stretches[0].hold.pace"),
    "repeat zero": (GOOD + "repeat = 0\n", "stretches[0].repeat"),
    "repeat word": (GOOD + 'repeat = "lots"\n', "stretches[0].repeat"),
    "repeats negative": ("repeats = -1\n" + GOOD, "repeats: must be a positive"),
    "bad side": (GOOD + '[[stretches.sides]]\nside = "middle"\nsteps = ["x"]\n', "stretches[0].sides[0].side: must be one of"),
    "side unknown key": (GOOD + '[[stretches.sides]]\nside = "left"\nfoo = 1\n', "stretches[0].sides[0].foo: unknown field"),
    "duplicate id": (GOOD + "[[stretches]]" + GOOD.split("[[stretches]]")[1],
                     "stretches[1].id: 'knee-hug' is used by an earlier stretch"),
    "phrases unknown": (GOOD + '[phrases]\nhullo = "hi"\n', "phrases.hullo: unknown field"),
    "phrase placeholder": (GOOD + '[phrases]\nstatus = "At {where}"\n', "phrases.status: unknown placeholder"),
    "phrase broken brace": (GOOD + '[phrases]\nstatus = "At {"\n', "phrases.status: unknown placeholder"),
    "amount infinite": (GOOD.replace("amount = 5", "amount = inf"), "stretches[0].hold.amount: must be a positive"),
    "amount nan": (GOOD.replace("amount = 5", "amount = nan"), "stretches[0].hold.amount: must be a positive"),
    "amount huge": (GOOD.replace("amount = 5", "amount = 100000"), "stretches[0].hold.amount: must be at most 100"),
    "sides not a list": (GOOD + 'sides = "left"\n', "stretches[0].sides: must be a list"),
    "side not a table": (GOOD + "sides = [1]\n", "stretches[0].sides[0]: must be a table"),
    "stretches not a list": ('name = "x"\nintro = ["a"]\noutro = ["b"]\nstretches = 5\n', "stretches: must be a list"),
    "empty intro": (GOOD.replace('intro = ["Hello."]', "intro = []"), "intro: must have at least one line"),
    "repeats true": ("repeats = true\n" + GOOD, "repeats: must be a positive whole number, not true/false"),
    "repeat huge": (GOOD + "repeat = 1500\n", "stretches[0].repeat: must be a whole number from 1 to 20"),
    "phrase format code": (GOOD + '[phrases]\nstatus_next = "Next: {name:d}."\n', "phrases.status_next: cannot be spoken"),
    "phrase attribute": (GOOD + '[phrases]\nstatus = "At {index.real}"\n', "phrases.status: unknown placeholder"),
    "past six hours": (GOOD.replace('kind = "count", amount = 5', 'kind = "seconds", amount = 900') + "repeat = 20\n"
                       + '[[stretches.sides]]\nside = "right"\n[[stretches.sides]]\nside = "left"\n',
                       "stretches[0] (Knee hug): the session would run past 6 hours"),
    # found by the property tests: each printed a second line, or a traceback
    "key with a line break": ('"a\\nb" = 1\n' + GOOD, '"a\\nb": unknown field'),
    "side key with a line break": (GOOD + '[[stretches.sides]]\nside = "left"\n"x\\u2028y" = 1\n',
                                   'stretches[0].sides[0]."x\\u2028y": unknown field'),
    "name with a line break": (GOOD.replace('name = "Tiny"', 'name = "Ti\\nny"'), "name: must be one line"),
    "stretch name with a tab": (GOOD.replace('name = "Knee hug"', 'name = "Knee\\thug"'),
                                "stretches[0].name: must be one line"),
    "lists nested too deeply": ("a = " + "[" * 3000 + "]" * 3000 + "\n" + GOOD, "nested too deeply"),
    "tables nested too deeply": ("a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n" + GOOD, "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROUTINES))
def test_malformed_routine_gets_exit_2_and_one_line_naming_the_field(
        case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, expected = BAD_ROUTINES[case]
    path = tmp_path / "my.toml"
    path.write_text(text)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert f"{path}: " in err
    assert expected in err
    assert "Traceback" not in err
    assert path.read_text() == text  # nothing the user made is changed


def test_deeply_nested_toml_through_the_console_entry_point_is_one_line(tmp_path: Path) -> None:
    # tomllib reads nested lists recursively: RecursionError came out of `check` as a traceback.
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 3000 + "]" * 3000 + "\n")
    proc = subprocess.run([sys.executable, "-m", "skill", "check", str(deep)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "nested too deeply" in proc.stderr


def test_good_small_routine_loads() -> None:
    routine = parse_routine(GOOD, Path("tiny.toml"))
    assert routine.id == "tiny" and routine.stretches[0].id == "knee-hug"
    assert routine.stretches[0].sides[0].side == ""


def test_missing_file_and_unknown_name_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nope.toml")]) == 2
    assert "no such routine file" in capsys.readouterr().err
    assert main(["show", "no-such-routine"]) == 2
    assert "no routine by that name" in capsys.readouterr().err


def test_users_own_routines_are_listed_and_loadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    mine = tmp_path / "bedtime-stretch" / "routines"
    mine.mkdir(parents=True)
    (mine / "tiny.toml").write_text(GOOD)
    assert main(["routines"]) == 0
    out = capsys.readouterr().out
    assert "bedtime-lower-back\tbuilt-in" in out
    assert "tiny\tyours\tTiny" in out
    assert load_routine("tiny").name == "Tiny"


def test_check_through_the_console_entry_point(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("amount = 5", "amount = -1"))
    proc = subprocess.run([sys.executable, "-m", "skill", "check", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("stretches[0].hold.amount: must be a positive whole number")
    ok = subprocess.run([sys.executable, "-m", "skill", "check", str(BUILTIN)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_builtin_file_loads_by_path_too() -> None:
    assert load_routine_file(BUILTIN).id == "bedtime-lower-back"


def test_the_example_in_the_routines_readme_is_a_valid_routine(tmp_path: Path) -> None:
    readme = (BUILTIN.parent / "README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.toml"
    path.write_text(example)
    routine = load_routine_file(path)
    assert [s.name for s in routine.stretches] == ["Knee hugs", "Child's pose"]


def test_a_directory_or_binary_file_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path)]) == 2
    assert "not a regular file" in capsys.readouterr().err
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe\x00name")
    assert main(["check", str(binary)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(binary) in err


@pytest.mark.parametrize("command", ["check", "show", "simulate", "run"])
def test_a_fifo_as_the_routine_is_refused_at_once(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "r.toml"
    os.mkfifo(fifo)
    args = [command, str(fifo)] if command != "run" else ["run", "--text", str(fifo)]
    done = subprocess.run([sys.executable, "-m", "skill", *args], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "not a regular file" in done.stderr


def test_a_routine_that_passes_check_runs_every_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check forms every phrase and simulates the session: what it passes, show and simulate run."""
    path = tmp_path / "mine.toml"
    path.write_text(GOOD + 'repeat = 20\n[phrases]\nstatus_next = "Coming up: {name!s}."\n')
    assert main(["check", str(path)]) == 0
    assert "min at the normal pace" in capsys.readouterr().out
    assert main(["show", str(path)]) == 0
    assert main(["simulate", str(path), "--command", "30:what's next"]) == 0


def test_a_routine_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_routine_file(path).name == "Tiny"
