"""The OpenAPI document is generated from the declared models (fieldapp.contract); the
repository keeps it as docs/openapi.json so a contract change shows up in review."""

from __future__ import annotations

from fieldapp.contract import document


def test_the_snapshot_is_the_generated_document() -> None:
    expected = document.render(document.build_openapi())
    actual = document.SNAPSHOT.read_text(encoding="utf-8") if document.SNAPSHOT.exists() else ""
    assert actual == expected, (
        "docs/openapi.json differs from the generated document; if the contract change is "
        "meant, refresh it: .venv/bin/python -m fieldapp.contract.document --write"
    )


def test_the_check_command_agrees(capsys: object) -> None:
    assert document.main(["--check"]) == 0
