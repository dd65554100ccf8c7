"""The skew lab's own fraud data: card transactions, late-landing disputes and labels.

Seeded and stationary (every day is drawn from the same process), so a model trained on the
first weeks meets the same world in the last one. What makes it a skew lab:

* **transactions** stream in: each lands (``created_timestamp``) seconds after it happens;
  activity follows a day/night cycle;
* **fraud** comes in bursts: a compromised card makes 2–6 transactions within two hours,
  and some cards are compromised more than once;
* **disputes** (chargebacks) are backfilled: one row per disputed transaction, stamped with
  the transaction's time (``event_timestamp``) but landing 3–72 hours later
  (``created_timestamp``), carrying the card's dispute count over the last 7 days. Almost
  every fraud is disputed, so a dispute that had not landed yet is the label in disguise;
* **labels** reach the warehouse in a nightly load (``loaded_at``, around 02:00) two to three
  days after the transaction, once the case is closed.

The same ``seed`` and ``size`` give the same tables, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

US = 1_000_000
MINUTE_US = 60 * US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
# Relative activity per hour of day (UTC): quiet nights, busy evenings.
DIURNAL = np.array([1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 9, 9, 8, 8, 9, 10, 11, 11, 10, 7, 4, 2.0])


@dataclass(frozen=True)
class LabData:
    """The lab's tables (Arrow) and the split of its days."""

    transactions: pa.Table
    disputes: pa.Table
    labels: pa.Table
    start: datetime
    days: int
    train_days: tuple[int, int]
    test_days: tuple[int, int]

    def day_us(self, day: int) -> int:
        """The start of day ``day`` of the history, in µs."""
        return int(self.start.timestamp() * US) + day * DAY_US


def default_start() -> datetime:
    """Midnight UTC tomorrow.

    The history lies in the near future because Redis expires keys on the wall clock
    (``PEXPIREAT event_ts + ttl``): replaying serving over a past period would find windows and
    ttls already expired. Every time in the lab is relative to this start, aligned to midnight,
    so the numbers do not depend on the day the lab runs.
    """
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=1)


def _ts(micros: np.ndarray) -> pa.Array:
    return pa.array(micros.astype("int64"), pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def _times(rng: np.random.Generator, n: int, start_us: int, days: int) -> np.ndarray:
    day = rng.integers(0, days, n)
    hour = rng.choice(24, n, p=DIURNAL / DIURNAL.sum())
    within = rng.integers(0, HOUR_US, n)
    return start_us + day * DAY_US + hour * HOUR_US + within


def generate(
    size: int = 3_000, *, days: int = 28, seed: int = 17, start: datetime | None = None
) -> LabData:
    """Draw the lab's tables: ``size`` cards over ``days`` days.

    Args:
        size: number of cards (users); transactions scale with it (about 2 per card per day).
        days: length of the history; the first quarter only warms features up, the last
            quarter is the test period.
        seed: the random seed; the same seed gives the same tables.
        start: midnight UTC of the first day; default :func:`default_start`.
    """
    start = start or default_start()
    rng = np.random.default_rng(seed)
    start_us = int(start.timestamp() * US)
    users = np.arange(1, size + 1)

    # Legitimate spending: a per-card rate, a day/night cycle.
    rate = rng.gamma(2.0, 1.0, size)  # transactions per day, mean 2
    n_legit = rng.poisson(rate * days)
    legit_user = np.repeat(users, n_legit)
    legit_time = _times(rng, len(legit_user), start_us, days)
    legit_amount = np.round(rng.lognormal(3.3, 0.9, len(legit_user)), 2)

    # Fraud: bursts on compromised cards; a tenth of the cards are the usual victims.
    episodes = rng.poisson(size * days * 0.006)
    victims = rng.choice(users[: max(1, size // 10)], episodes)
    first = _times(rng, episodes, start_us, days)
    burst = rng.integers(2, 7, episodes)
    ep_user = np.repeat(victims, burst)
    offsets = np.concatenate([np.sort(rng.integers(0, 120, k)) for k in burst]) * MINUTE_US
    fraud_time = np.repeat(first, burst) + offsets + rng.integers(0, MINUTE_US, len(ep_user))
    fraud_amount = np.round(rng.lognormal(3.8, 1.0, len(ep_user)), 2)

    user = np.concatenate([legit_user, ep_user])
    time = np.concatenate([legit_time, fraud_time])
    amount = np.concatenate([legit_amount, fraud_amount])
    fraud = np.concatenate([np.zeros(len(legit_user), bool), np.ones(len(ep_user), bool)])
    keep = time < start_us + days * DAY_US
    order = np.lexsort((user[keep], time[keep]))
    user, time, amount, fraud = (
        user[keep][order],
        time[keep][order],
        amount[keep][order],
        fraud[keep][order],
    )
    n = len(user)
    tx_id = np.arange(1, n + 1)
    transactions = pa.table(
        {
            "transaction_id": pa.array(tx_id, pa.int64()),
            "user_id": pa.array(user, pa.int64()),
            "amount": pa.array(amount, pa.float64()),
            "event_timestamp": _ts(time),
            "created_timestamp": _ts(time + rng.integers(1, 60, n) * US),
        }
    )

    disputes = _disputes(rng, tx_id, user, time, amount, fraud)

    # Labels: a nightly warehouse load (02:00-03:00) two to three days after the transaction.
    load_day = (time - start_us) // DAY_US + rng.integers(2, 4, n)
    loaded_at = start_us + load_day * DAY_US + 2 * HOUR_US + rng.integers(0, HOUR_US, n)
    labels = pa.table(
        {
            "transaction_id": pa.array(tx_id, pa.int64()),
            "user_id": pa.array(user, pa.int64()),
            "amount": pa.array(amount, pa.float64()),
            "event_timestamp": _ts(time),
            "loaded_at": _ts(loaded_at),
            "is_fraud": pa.array(fraud),
        }
    )
    warm = days // 4
    test_from = days - days // 4
    return LabData(
        transactions, disputes, labels, start, days, (warm, test_from), (test_from, days)
    )


def _disputes(
    rng: np.random.Generator,
    tx_id: np.ndarray,
    user: np.ndarray,
    time: np.ndarray,
    amount: np.ndarray,
    fraud: np.ndarray,
) -> pa.Table:
    """One row per disputed transaction: 90% of frauds, 1% of the rest (friendly fraud)."""
    disputed = rng.random(len(tx_id)) < np.where(fraud, 0.9, 0.01)
    idx = np.flatnonzero(disputed)
    d_user, d_time = user[idx], time[idx]
    # The card's disputes in the 7 days up to this one (this one included), in event order.
    order = np.lexsort((d_time, d_user))
    u, e = d_user[order], d_time[order]
    running = np.empty(len(idx), np.int64)
    first = np.searchsorted(u, u)  # each card's first row in the sorted order
    for i in range(len(u)):
        lo = first[i] + np.searchsorted(e[first[i] : i + 1], e[i] - 7 * DAY_US, side="right")
        running[order[i]] = i - lo + 1
    landed = d_time + rng.integers(3 * HOUR_US, 72 * HOUR_US, len(idx))
    return pa.table(
        {
            "user_id": pa.array(d_user, pa.int64()),
            "transaction_id": pa.array(tx_id[idx], pa.int64()),
            "event_timestamp": _ts(d_time),
            "created_timestamp": _ts(landed),
            "disputes_7d": pa.array(running, pa.int64()),
            "disputed_usd": pa.array(amount[idx], pa.float64()),
        }
    )


def tumbling_daily(transactions: pa.Table) -> pa.Table:
    """The batch job's tumbling window: per card and calendar day (UTC), count and amount.

    Each bucket is stamped with the midnight it starts at, as ``GROUP BY date(ts)`` writes it,
    so an as-of join at ``t`` picks the whole day holding ``t``: the transaction at ``t`` and
    the rest of that day included.
    """
    user = transactions.column("user_id").to_numpy()
    micros = transactions.column("event_timestamp").cast(pa.int64()).to_numpy()
    amount = transactions.column("amount").to_numpy()
    day = micros // DAY_US
    order = np.lexsort((day, user))
    u, d, a = user[order], day[order], amount[order]
    boundary = np.r_[True, (u[1:] != u[:-1]) | (d[1:] != d[:-1])]
    group = np.cumsum(boundary) - 1
    return pa.table(
        {
            "user_id": pa.array(u[boundary], pa.int64()),
            "event_timestamp": _ts(d[boundary] * DAY_US),
            "tx_24h": pa.array(np.bincount(group).astype("int64"), pa.int64()),
            "usd_24h": pa.array(np.round(np.bincount(group, weights=a), 2), pa.float64()),
        }
    )
