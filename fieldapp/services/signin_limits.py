"""Sign-in throttling, counted in PostgreSQL so every web process and host shares it (DESIGN
§5: "rate limits and locks in PostgreSQL").

Four counters, each a fixed window in one row of `signin_throttle` keyed by (scope, key):

- per source address, across every username: stops one machine from spraying many accounts;
- per (account, address) pair: the real limit on guessing one password from one place; it
  never touches the same account signed in from elsewhere, so a stranger cannot lock a real
  user out;
- per account, from anywhere, and its one-minute slot: once an account has had many
  failures within the hour (a distributed guess), addresses the account has never signed in
  from get one evaluated attempt a minute for it. A slowdown, not a lock; an address the
  user signed in from before (within `KNOWN_FOR`) is not slowed at all.

An attempt is counted *before* its password is checked, by one INSERT … ON CONFLICT DO
UPDATE … RETURNING over all four rows: the row locks serialise parallel attempts, each gets
its own count, and those over a limit are refused without evaluating the password, so
parallel guesses cannot get past a limit. A successful sign-in gives its count back.

`decide` is the pure policy (no database), `reserve` / `succeeded` the two statements."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Limit:
    scope: str
    window: timedelta
    max_attempts: int


# A shared office address (NAT) holds dozens of officers: 30 failures in 15 minutes is more
# than a morning of typos there, and far too few to spray passwords over many accounts.
ADDRESS = Limit("address", timedelta(minutes=15), 30)
# Five tries of one account from one place, then wait out the window (as before #15, but no
# longer for the account everywhere).
PAIR = Limit("pair", timedelta(minutes=15), 5)
# Above this many failures of one account within the hour, from anywhere, unknown addresses
# get one evaluated attempt per ACCOUNT_SLOT window for that account.
ACCOUNT = Limit("account", timedelta(hours=1), 20)
ACCOUNT_SLOT = Limit("account_slot", timedelta(minutes=1), 1)
# An address a user signed in from within this time is theirs: not slowed by ACCOUNT.
KNOWN_FOR = timedelta(days=90)

LIMITS = (ADDRESS, PAIR, ACCOUNT, ACCOUNT_SLOT)


@dataclass(frozen=True)
class Keys:
    """The row keys of one attempt."""

    address: str
    pair: str
    account: str

    def for_scope(self, scope: str) -> str:
        return {"address": self.address, "pair": self.pair}.get(scope, self.account)


def keys(username: str, address: str | None) -> Keys:
    """Keys for an attempt. The account key is the casefolded username, so `City` and `city`
    share one count (sign-in itself compares exactly; the limit must not be split)."""
    account = username.strip().casefold()[:64]
    where = address_key(address)
    return Keys(address=where, pair=f"{account}\x1f{where}", account=account)


def address_key(address: str | None) -> str:
    """The counted form of a client address: IPv4 as is, IPv6 by its /64 (one subscriber
    gets a whole /64 and could otherwise take a fresh address for every guess)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped if ip.version == 6 else ip)


@dataclass(frozen=True)
class Count:
    attempts: int
    window_start: datetime


@dataclass(frozen=True)
class Refusal:
    limit: Limit
    retry_after_s: int
    first: bool
    """The first refused attempt of this window (audited; later ones are not, so a flood
    cannot fill the audit log)."""


def decide(counts: Mapping[str, Count], known: bool, now: datetime) -> Refusal | None:
    """Whether an attempt with these counts (its own included) is refused, and for how long.
    Of several limits broken, the longest wait is answered."""
    broken: list[Refusal] = []
    for limit in (ADDRESS, PAIR):
        count = counts.get(limit.scope)
        if count and count.attempts > limit.max_attempts:
            broken.append(_refusal(limit, count, now))
    account, slot = counts.get(ACCOUNT.scope), counts.get(ACCOUNT_SLOT.scope)
    if (
        not known
        and account
        and slot
        and account.attempts > ACCOUNT.max_attempts
        and slot.attempts > ACCOUNT_SLOT.max_attempts
    ):
        broken.append(_refusal(ACCOUNT_SLOT, slot, now))
    if not broken:
        return None
    return max(broken, key=lambda r: r.retry_after_s)


def _refusal(limit: Limit, count: Count, now: datetime) -> Refusal:
    left = (count.window_start + limit.window - now).total_seconds()
    return Refusal(limit, max(1, int(left) + 1), first=count.attempts == limit.max_attempts + 1)


# One statement, one round trip: whether the pair is a known one, and every counter bumped
# (reset when its window has passed). Rows are always locked in the same order (the VALUES
# order), so two attempts never deadlock.
_RESERVE = text(
    """
    WITH known AS (
        SELECT EXISTS (
            SELECT 1 FROM signin_throttle
            WHERE scope = 'known' AND key = :pair
              AND window_start + make_interval(secs => window_s) > :now
        ) AS yes
    )
    INSERT INTO signin_throttle AS t (scope, key, attempts, window_start, window_s)
    SELECT v.scope, v.key, 1, CAST(:now AS timestamptz), v.window_s
    FROM (VALUES
        ('address', CAST(:address AS text), CAST(:address_s AS integer)),
        ('pair', :pair, :pair_s),
        ('account', :account, :account_s),
        ('account_slot', :account, :slot_s)
    ) AS v(scope, key, window_s)
    ON CONFLICT (scope, key) DO UPDATE SET
        attempts = CASE
            WHEN t.window_start + make_interval(secs => t.window_s) <= EXCLUDED.window_start
            THEN 1 ELSE t.attempts + 1 END,
        window_start = CASE
            WHEN t.window_start + make_interval(secs => t.window_s) <= EXCLUDED.window_start
            THEN EXCLUDED.window_start ELSE t.window_start END,
        window_s = EXCLUDED.window_s
    RETURNING t.scope, t.attempts, t.window_start, (SELECT yes FROM known)
    """
)

# A success gives its attempt back (a shared address is not charged for people who sign in
# fine), clears the pair's failures, marks the address as the user's, and sweeps rows whose
# window has passed (a few at a time, so no sign-in waits for a big delete).
_SUCCEEDED = text(
    """
    WITH given_back AS (
        UPDATE signin_throttle SET attempts = greatest(attempts - 1, 0)
        WHERE (scope, key) IN (('address', :address), ('account', :account),
                               ('account_slot', :account))
    ), cleared AS (
        DELETE FROM signin_throttle WHERE scope = 'pair' AND key = :pair
    ), swept AS (
        DELETE FROM signin_throttle WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM signin_throttle
            WHERE window_start + make_interval(secs => window_s) < :now
              AND key NOT IN (:address, :account, :pair)  -- rows the other parts write
            LIMIT 100))
    )
    INSERT INTO signin_throttle (scope, key, attempts, window_start, window_s)
    VALUES ('known', :pair, 0, :now, :known_s)
    ON CONFLICT (scope, key) DO UPDATE SET window_start = EXCLUDED.window_start
    """
)


def reserve(session: Session, k: Keys, now: datetime) -> tuple[dict[str, Count], bool]:
    """Count this attempt against every limit. Returns the counts (this attempt included)
    and whether the address is known for the account. The caller commits at once, before
    the slow password check, so the row locks are held for one statement only."""
    rows = session.execute(
        _RESERVE,
        {
            "now": now,
            "address": k.address,
            "pair": k.pair,
            "account": k.account,
            "address_s": int(ADDRESS.window.total_seconds()),
            "pair_s": int(PAIR.window.total_seconds()),
            "account_s": int(ACCOUNT.window.total_seconds()),
            "slot_s": int(ACCOUNT_SLOT.window.total_seconds()),
        },
    ).all()
    counts = {str(r[0]): Count(int(r[1]), r[2]) for r in rows}
    known = bool(rows and rows[0][3])
    return counts, known


def succeeded(session: Session, k: Keys, now: datetime) -> None:
    """Record a successful sign-in (see _SUCCEEDED)."""
    session.execute(
        _SUCCEEDED,
        {
            "now": now,
            "address": k.address,
            "pair": k.pair,
            "account": k.account,
            "known_s": int(KNOWN_FOR.total_seconds()),
        },
    )
