"""Chinese first: every user-facing string in the code has a Chinese translation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

REPO = Path(__file__).resolve().parents[2]


def test_every_extracted_message_is_translated_to_chinese(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
         "-k", "_l", "-o", str(pot), "."],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    with pot.open("rb") as f:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    po = REPO / "fieldapp/translations/zh/LC_MESSAGES/messages.po"
    with po.open("rb") as f:
        translated = {
            (m.id if isinstance(m.id, str) else m.id[0]): m.string
            for m in read_po(f, locale="zh")
            if m.id and m.string and not m.fuzzy
        }
    missing = sorted(wanted - set(translated))
    assert not missing, "run `make extract-messages` and translate:\n" + "\n".join(missing)
    assert len(wanted) > 100
