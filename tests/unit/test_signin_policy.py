"""Pure parts of issue #15's sign-in work: the throttle policy, the `next` check, the CSP and
the field-level encryption (no database)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from werkzeug.routing import Map, Rule

from fieldapp import crypto, safe_redirect, security_headers
from fieldapp.services import signin_limits as limits
from fieldapp.services.signin_limits import Count

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def _counts(**attempts: int) -> dict[str, Count]:
    return {scope: Count(n, NOW - timedelta(minutes=5)) for scope, n in attempts.items()}


def test_pair_limit_refuses_the_sixth_try_for_the_rest_of_the_window() -> None:
    assert limits.decide(_counts(address=5, pair=5, account=5, account_slot=5), False, NOW) is None
    refusal = limits.decide(_counts(address=6, pair=6, account=6, account_slot=6), False, NOW)
    assert refusal is not None and refusal.limit is limits.PAIR and refusal.first
    assert refusal.retry_after_s == 10 * 60 + 1  # 15-minute window, 5 minutes gone
    later = limits.decide(_counts(address=7, pair=7, account=7, account_slot=7), False, NOW)
    assert later is not None and not later.first  # audited once per window


def test_address_limit_counts_every_username() -> None:
    refusal = limits.decide(_counts(address=31, pair=1, account=1, account_slot=1), False, NOW)
    assert refusal is not None and refusal.limit is limits.ADDRESS


def test_account_under_attack_slows_unknown_addresses_but_not_known_ones() -> None:
    attacked = _counts(address=1, pair=1, account=50, account_slot=2)
    refusal = limits.decide(attacked, known=False, now=NOW)
    assert refusal is not None and refusal.limit is limits.ACCOUNT_SLOT
    assert refusal.retry_after_s <= 60  # a slowdown, never a lock
    assert limits.decide(attacked, known=True, now=NOW) is None
    first_of_minute = _counts(address=1, pair=1, account=50, account_slot=1)
    assert limits.decide(first_of_minute, known=False, now=NOW) is None


def test_keys_fold_case_so_a_limit_cannot_be_split() -> None:
    assert limits.keys("City ", "10.0.0.1").account == limits.keys("city", "10.0.0.2").account
    assert limits.keys("city", None).address == "unknown"


def test_ipv6_clients_are_counted_by_their_64() -> None:
    one = limits.address_key("2001:db8:1:2:aaaa::1")
    assert one == limits.address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert one != limits.address_key("2001:db8:1:3::1")
    assert limits.address_key("::ffff:10.0.0.1") == "10.0.0.1"
    assert limits.address_key("10.0.0.1") == "10.0.0.1"


URL_MAP = Map(
    [
        Rule("/", endpoint="pages.index"),
        Rule("/triage/", endpoint="triage.queue"),
        Rule("/triage/cases/<report_id>", endpoint="triage.case"),
        Rule("/login", endpoint="auth.login"),
        Rule("/api/v1/reports", endpoint="api.create", methods=["POST"]),
    ]
)

BYPASSES = [
    "//evil.example",
    "//evil.example/",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%2f/evil.example",
    "/%2F%2Fevil.example",
    "/%5cevil.example",
    "/%5C%5Cevil.example",
    "/%2509/evil.example",
    "/%252f%252fevil.example",
    "https:evil.example",
    "https://evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,x",
    "evil.example",
    " /triage/",
    "/triage/\x00",
    "/triage/../login",
    "/triage/./",
    "/%2e%2e/login",
    "/nowhere",
    "/login",
    "/api/v1/reports",  # POST only
    "/triage",  # the app would redirect: not a page as given
    "/" + "a" * 3000,
    "",
    None,
]


@pytest.mark.parametrize("target", BYPASSES)
def test_next_refuses_every_known_bypass(target: str | None) -> None:
    assert safe_redirect.local_path(target, URL_MAP) is None


@pytest.mark.parametrize(
    "target",
    ["/", "/triage/", "/triage/?status=open&page=2", "/triage/cases/0b1e-42", "/triage/#x"],
)
def test_next_keeps_pages_of_the_app(target: str) -> None:
    assert safe_redirect.local_path(target, URL_MAP) == target.split("#")[0]


def test_policy_is_strict_about_scripts_and_names_the_tile_server() -> None:
    policy = security_headers.policy("abc", "https://{s}.tile.example.org/{z}/{x}/{y}.png")
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["script-src"] == "'self' 'nonce-abc'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "https://*.tile.example.org" in directives["img-src"]
    assert "unsafe-eval" not in policy
    assert security_headers.tile_origin(None) is None


def test_encryption_round_trip_binds_the_column_and_hides_the_value() -> None:
    ring = crypto.new_keyring()
    stored = ring.encrypt("371102199001011234", "report_parties.id_number")
    assert stored is not None and stored.startswith("enc1:k1:")
    assert "371102" not in stored and "1234" not in stored.split(":", 2)[2][:4]
    assert ring.decrypt(stored, "report_parties.id_number") == "371102199001011234"
    assert ring.encrypt("371102199001011234", "report_parties.id_number") != stored  # nonce
    with pytest.raises(crypto.KeyringError):
        ring.decrypt(stored, "report_parties.phone")  # moved to another column
    with pytest.raises(crypto.KeyringError):
        ring.decrypt("371102199001011234", "report_parties.id_number")  # never encrypted
    tampered = stored[:-2] + ("A" if stored[-2] != "A" else "B") + stored[-1]
    with pytest.raises(crypto.KeyringError):
        ring.decrypt(tampered, "report_parties.id_number")


def test_lookup_hash_is_keyed_and_normalised() -> None:
    ring, other = crypto.new_keyring(), crypto.new_keyring()
    assert ring.lookup("37110219900101123x", "id_number") == ring.lookup(
        "37110219900101123X", "id_number"
    )
    assert ring.lookup("138-1234-5678", "phone") == ring.lookup("13812345678", "phone")
    assert ring.lookup("13812345678", "phone") != other.lookup("13812345678", "phone")
    assert ring.lookup("13812345678", "phone") != ring.lookup("13812345678", "id_number")


def test_key_file_is_created_private_and_rotation_keeps_old_values(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "data_keys.json"
    ring = crypto.load(None, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    old = ring.encrypt("13812345678", "report_parties.phone")
    grown = crypto.add_key(ring)
    assert grown.current == "k2" and stat.S_IMODE(path.stat().st_mode) == 0o600
    reread = crypto.load(None, path)
    assert reread.current == "k2" and set(reread.keys) == {"k1", "k2"}
    assert reread.decrypt(old, "report_parties.phone") == "13812345678"
    new = reread.encrypt("13812345678", "report_parties.phone")
    assert new is not None and new.startswith("enc1:k2:")
    assert reread.lookup("13812345678", "phone") == ring.lookup("13812345678", "phone")
    inline = crypto.load(reread.to_json(), tmp_path / "unused.json")
    assert inline.decrypt(new, "report_parties.phone") == "13812345678"
    assert not (tmp_path / "unused.json").exists()


def test_malformed_keys_say_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(crypto.KeyringError, match="expected"):
        crypto.load(json.dumps({"current": "k1"}), tmp_path / "x.json")
    with pytest.raises(crypto.KeyringError, match="32 bytes"):
        crypto.load(
            json.dumps({"current": "k1", "keys": {"k1": "AAAA"}, "lookup": "A" * 44}),
            tmp_path / "x.json",
        )
