"""`--help` of every command and sub-command of `ecombench`, at 200 columns without colour, equal to the
checked-in text (one process, typer's CliRunner). The set of commands itself is pinned by the file names."""

from __future__ import annotations

import golden_support as g


def test_every_command_has_a_snapshot_and_each_is_today_s() -> None:
    texts = g.help_texts()
    files = {f.name: f.read_text() for f in g.HELP_DIR.glob("*.txt")}
    assert sorted(texts) == sorted(files)
    assert len(files) >= 20
    changed = [name for name in sorted(files) if texts[name] != files[name]]
    assert not changed, f"--help changed: {changed}"


def test_the_snapshots_are_help_texts() -> None:
    for file in g.HELP_DIR.glob("*.txt"):
        text = file.read_text()
        assert "Usage: ecombench" in text, file.name
        assert "--help" in text, file.name
