"""The outbox sender's thread: batches, flush, failures recorded, a bounded backlog."""

from __future__ import annotations

import threading
import time

from fieldapp.outbox_sender import OutboxSender


class _Broker:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.failures: list[tuple[list[int], str]] = []
        self.down = False
        self.gate = threading.Event()
        self.gate.set()
        self.sending = threading.Event()

    def send(self, ids: list[int]) -> None:
        self.sending.set()
        self.gate.wait(10)
        if self.down:
            raise ConnectionError("broker down")
        self.batches.append(ids)

    def record_failure(self, ids: list[int], exc: Exception) -> None:
        self.failures.append((ids, str(exc)))


def test_every_id_is_sent_once_in_order_and_what_gathers_goes_as_one_batch() -> None:
    broker = _Broker()
    sender = OutboxSender(broker.send, broker.record_failure, max_batch=3)
    broker.gate.clear()  # the first batch waits on the broker while more ids gather
    sender.submit([1])
    sender.submit([2, 3])
    sender.submit([4, 5, 6, 7])
    broker.gate.set()
    assert sender.flush(timeout=10)
    sent = [i for batch in broker.batches for i in batch]
    assert sent == [1, 2, 3, 4, 5, 6, 7]
    assert all(len(batch) <= 3 for batch in broker.batches)
    assert len(broker.batches) < 7  # batched, not one message per id
    assert broker.failures == []


def test_a_broker_failure_is_recorded_on_the_batch_and_sending_goes_on() -> None:
    broker = _Broker()
    sender = OutboxSender(broker.send, broker.record_failure)
    broker.down = True
    sender.submit([10, 11])
    assert sender.flush(timeout=10)
    assert broker.failures == [([10, 11], "broker down")]
    broker.down = False
    sender.submit([12])
    assert sender.flush(timeout=10)
    assert broker.batches == [[12]]


def test_a_failure_to_record_the_failure_does_not_stop_the_sender() -> None:
    broker = _Broker()

    def broken_record(ids: list[int], exc: Exception) -> None:
        raise RuntimeError("database down too")

    sender = OutboxSender(broker.send, broken_record)
    broker.down = True
    sender.submit([1])
    assert sender.flush(timeout=10)
    broker.down = False
    sender.submit([2])
    assert sender.flush(timeout=10)
    assert broker.batches == [[2]]


def test_the_backlog_is_bounded_and_the_oldest_are_left_to_the_relay() -> None:
    broker = _Broker()
    sender = OutboxSender(broker.send, broker.record_failure, max_batch=100, max_pending=5)
    broker.gate.clear()
    sender.submit([0])
    assert broker.sending.wait(10)  # the broker holds the first batch
    assert not sender.flush(timeout=0.1)
    sender.submit(list(range(1, 11)))
    broker.gate.set()
    assert sender.flush(timeout=10)
    sent = [i for batch in broker.batches for i in batch]
    assert sent == [0, 6, 7, 8, 9, 10]


def test_nothing_to_send_starts_nothing() -> None:
    broker = _Broker()
    sender = OutboxSender(broker.send, broker.record_failure)
    sender.submit([])
    assert sender.flush(timeout=0.1)
    assert broker.batches == []


def test_ids_arriving_close_together_share_one_message() -> None:
    broker = _Broker()
    sender = OutboxSender(broker.send, broker.record_failure, linger=0.5)
    sender.submit([1])
    time.sleep(0.05)
    sender.submit([2])
    assert sender.flush(timeout=10)  # a flush sends at once, without waiting out the linger
    assert broker.batches == [[1, 2]]
