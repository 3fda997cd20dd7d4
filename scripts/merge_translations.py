"""Fill msgstr in the Chinese catalogue from JSON files {msgid: 中文}, then report what is
still untranslated. Usage: python scripts/merge_translations.py [FILE.json …]"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "fieldapp/translations/zh/LC_MESSAGES/messages.po"


def main(paths: list[str]) -> int:
    table: dict[str, str] = {}
    for path in paths:
        table.update(json.loads(Path(path).read_text(encoding="utf-8")))
    with PO.open("rb") as f:
        catalog = read_po(f, locale="zh")
    missing = []
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key in table:
            message.string = table[key]
            message.flags.discard("fuzzy")
        elif not message.string or message.fuzzy:
            missing.append(key)
    with PO.open("wb") as f:
        write_po(f, catalog, width=100)
    for key in missing:
        print(f"untranslated: {key!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
