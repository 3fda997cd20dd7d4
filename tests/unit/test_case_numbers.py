"""The history loader's case numbering (pure numpy, no database): the same numbers the
migration's backfill and the insert trigger give — per (prefix, year) group, 1, 2, 3 … in
(reported_at, id) order, continuing each group's counter."""

from __future__ import annotations

import numpy as np

from fieldapp.demo.history import case_number_sequence


def test_numbers_run_per_group_in_time_then_id_order_from_the_counter() -> None:
    groups = np.array([1, 0, 1, 0, 1, 0])
    reported = np.array([50, 10, 20, 10, 20, 5])
    ids = np.array([b"e", b"b", b"d", b"a", b"c", b"z"], dtype="S1")
    start = np.array([0, 100])
    got = case_number_sequence(groups, reported, ids, start)
    # Group 0: t=5 (z), t=10 (a), t=10 (b) → 1, 2, 3. Group 1 continues from 100:
    # t=20 (c), t=20 (d), t=50 (e) → 101, 102, 103.
    assert got.tolist() == [103, 3, 102, 2, 101, 1]


def test_an_empty_history_has_no_numbers() -> None:
    empty = np.array([], dtype=np.int64)
    got = case_number_sequence(empty, empty, np.array([], dtype="S1"), np.array([], dtype=np.int64))
    assert got.size == 0
