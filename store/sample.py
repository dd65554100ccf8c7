"""Deterministic sample data for the example payments/fraud feature repo (no download).

Users, merchants and card transactions over ``days`` days ending at ``end`` (default: now, to
the minute, so online values are fresh). The data is realistic in the ways that cause
training-serving skew, and stationary (the same distributions every day), so a clean repo
audits clean:

* every stats row lands some minutes after its event (``created_timestamp``);
* about 3% of user stats rows land hours late, within the view's ``allowed_lateness``;
* about 2% are corrected: the same ``event_timestamp`` is re-sent hours later with another
  value;
* the profile table is a daily snapshot with a few hours of ingestion delay.

:func:`plant_skew` adds known defects on top, for the demo and the integration test.

The same ``seed`` and ``end`` always give the same files, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq

US = 1_000_000
DAY_US = 86_400 * US
HOUR_US = 3_600 * US
COUNTRIES = np.array(["US", "GB", "DE", "FR", "BR", "IN", "NG", "JP"])
LIMITS = np.array([500.0, 1000.0, 2500.0, 5000.0, 10000.0])
CATEGORIES = np.array(["grocery", "travel", "electronics", "gaming", "fashion", "crypto"])


@dataclass(frozen=True)
class SampleSummary:
    """What :func:`generate` wrote."""

    files: list[Path]
    users: int
    merchants: int
    transactions: int
    late_rows: int
    corrected_rows: int
    end: datetime


def default_end() -> datetime:
    """Ten minutes ago, to the minute: the sample data ends 'now', so online values (windows
    included) are fresh and distributed as in training; the margin lets every row land and
    pass its view's availability_delay (5 min) before the quickstart materializes, so no row
    becomes visible between materialization and the first reads."""
    ago = datetime.now(UTC) - timedelta(minutes=10)
    return ago.replace(second=0, microsecond=0)


def _ts(micros: np.ndarray) -> pa.Array:
    return pa.array(micros.astype("int64"), pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def generate(
    data_dir: Path,
    *,
    end: datetime | None = None,
    days: int = 30,
    users: int = 2_000,
    merchants: int = 300,
    seed: int = 7,
) -> SampleSummary:
    """Write the example repo's Parquet sources into ``data_dir``."""
    end = end or default_end()
    rng = np.random.default_rng(seed)
    end_us = int(end.timestamp() * US)
    start_us = end_us - days * DAY_US
    data_dir.mkdir(parents=True, exist_ok=True)
    files = []

    # Transactions: the events models score, and the labels of the training set.
    n_tx = users * days * 2
    tx_user = rng.integers(1, users + 1, n_tx)
    tx_merchant = rng.integers(1, merchants + 1, n_tx)
    tx_time = np.sort(rng.integers(start_us, end_us, n_tx))
    amount = np.round(rng.lognormal(3.5, 1.1, n_tx), 2)
    fx = rng.choice([1.0, 1.08, 1.27, 0.0067], n_tx, p=[0.6, 0.2, 0.15, 0.05])
    risky = (tx_merchant % 17 == 0) | (tx_user % 97 == 0)
    fraud = rng.random(n_tx) < np.where(risky, 0.2, 0.01)
    tx_created = tx_time + rng.integers(1, 120, n_tx) * US
    transactions = pa.table(
        {
            "transaction_id": pa.array(np.arange(1, n_tx + 1), pa.int64()),
            "user_id": pa.array(tx_user, pa.int64()),
            "merchant_id": pa.array(tx_merchant, pa.int64()),
            "amount": pa.array(amount, pa.float64()),
            "fx_rate": pa.array(fx, pa.float64()),
            "event_timestamp": _ts(tx_time),
            "created_timestamp": _ts(tx_created),
            "is_fraud": pa.array(fraud),
        }
    )
    # A transaction landing after ``end`` has not landed yet: it is not in the file (else an
    # online read just after materializing could miss what the offline rule sees).
    transactions = transactions.filter(pa.array(tx_created < end_us))
    files.append(_write(transactions, data_dir / "transactions.parquet"))

    # Hourly user transaction stats, partitioned by day, with late and corrected rows.
    stats, late, corrected = _user_stats(rng, tx_user, tx_time, amount * fx, start_us, end_us)
    folder = data_dir / "user_txn_stats"
    for day in np.unique(stats["day"].to_numpy()):
        part = stats.filter(pa.compute.equal(stats["day"], day)).drop(["day"])
        files.append(_write(part, folder / f"day={day}" / "part-0.parquet"))

    # Daily user profile snapshots, landing a few hours after midnight.
    files.append(_write(_profiles(rng, users, start_us, days), data_dir / "user_profile.parquet"))
    files.append(
        _write(_merchants(rng, merchants, start_us, days), data_dir / "merchant_risk.parquet")
    )
    return SampleSummary(files, users, merchants, transactions.num_rows, late, corrected, end)


def _user_stats(
    rng: np.random.Generator,
    tx_user: np.ndarray,
    tx_time: np.ndarray,
    amount_usd: np.ndarray,
    start_us: int,
    end_us: int,
) -> tuple[pa.Table, int, int]:
    hour = tx_time // HOUR_US
    # One row per (user, hour with activity): count and amount in that hour, stamped at hour end.
    order = np.lexsort((hour, tx_user))
    u, h, amt = tx_user[order], hour[order], amount_usd[order]
    boundary = np.r_[True, (u[1:] != u[:-1]) | (h[1:] != h[:-1])]
    group = np.cumsum(boundary) - 1
    users = u[boundary]
    hours = h[boundary]
    count = np.bincount(group).astype("int64")
    total = np.round(np.bincount(group, weights=amt), 2)
    event = (hours + 1) * HOUR_US
    keep = event < end_us
    users, event, count, total = users[keep], event[keep], count[keep], total[keep]
    created = event + rng.integers(2, 15, len(event)) * 60 * US
    late = rng.random(len(event)) < 0.03
    # late, but within the view's allowed_lateness (1 day): the stream keeps them
    created[late] = event[late] + rng.integers(2 * 60, 20 * 60, late.sum()) * 60 * US
    fix = rng.random(len(event)) < 0.02
    # 30 s off the minute: a correction never ties a late row on (event, created)
    fix_created = event[fix] + rng.integers(3 * 60, 20 * 60, fix.sum()) * 60 * US + 30 * US
    fix_total = np.round(total[fix] * rng.uniform(0.5, 1.5, fix.sum()), 2)

    def table(
        u: np.ndarray, e: np.ndarray, c: np.ndarray, n: np.ndarray, t: np.ndarray
    ) -> pa.Table:
        days = np.datetime_as_string(e.astype("datetime64[us]"), unit="D")
        return pa.table(
            {
                "user_id": pa.array(u, pa.int64()),
                "event_timestamp": _ts(e),
                "created_timestamp": _ts(c),
                "txn_count_1h": pa.array(n, pa.int64()),
                "amount_usd_1h": pa.array(t, pa.float64()),
                "day": pa.array(days),
            }
        )

    # Rows that would land after ``end`` have not landed yet: they are not in the files.
    landed, fix_landed = created < end_us, fix_created < end_us
    base = table(users[landed], event[landed], created[landed], count[landed], total[landed])
    f_users, f_event, f_count = (
        users[fix][fix_landed],
        event[fix][fix_landed],
        count[fix][fix_landed],
    )
    fixes = table(f_users, f_event, fix_created[fix_landed], f_count, fix_total[fix_landed])
    return (
        pa.concat_tables([base, fixes]),
        int((late & landed).sum()),
        int(fix_landed.sum()),
    )


def _profiles(rng: np.random.Generator, users: int, start_us: int, days: int) -> pa.Table:
    ids = np.arange(1, users + 1)
    country = rng.choice(COUNTRIES, users, p=[0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05])
    age0 = rng.integers(0, 2000, users)
    limit = rng.choice(LIMITS, users)
    verified = rng.random(users) < 0.8
    rows = []
    for d in range(0, days, 1):
        snap = start_us + d * DAY_US
        active = rng.random(users) < 0.35  # only changed profiles are re-sent
        if d == 0:
            active[:] = True
        # a few limits change each day, drawn from the same choices: stationary
        bump = (rng.random(users) < 0.02) & active
        limit = np.where(bump, rng.choice(LIMITS, users), limit)
        idx = np.flatnonzero(active)
        rows.append(
            pa.table(
                {
                    "user_id": pa.array(ids[idx], pa.int64()),
                    "event_timestamp": _ts(np.full(len(idx), snap)),
                    "created_timestamp": _ts(
                        snap + rng.integers(1 * HOUR_US, 6 * HOUR_US, len(idx))
                    ),
                    "country": pa.array(country[idx]),
                    "account_age_days": pa.array(age0[idx] + d, pa.int64()),
                    "credit_limit": pa.array(limit[idx], pa.float64()),
                    "is_verified": pa.array(verified[idx]),
                }
            )
        )
    return pa.concat_tables(rows)


def _merchants(rng: np.random.Generator, merchants: int, start_us: int, days: int) -> pa.Table:
    ids = np.arange(1, merchants + 1)
    category = rng.choice(CATEGORIES, merchants)
    base_rate = np.where(ids % 17 == 0, 0.08, 0.004) * rng.uniform(0.5, 1.5, merchants)
    rows = []
    for d in range(0, days, 1):
        snap = start_us + d * DAY_US + 2 * HOUR_US
        rate = np.round(np.clip(base_rate * rng.uniform(0.7, 1.3, merchants), 0, 1), 5)
        rows.append(
            pa.table(
                {
                    "merchant_id": pa.array(ids, pa.int64()),
                    "event_timestamp": _ts(np.full(merchants, snap)),
                    "created_timestamp": _ts(np.full(merchants, snap + 30 * 60 * US)),
                    "category": pa.array(category),
                    "chargeback_rate": pa.array(rate, pa.float64()),
                    "volume_30d": pa.array(rng.integers(100, 50_000, merchants), pa.int64()),
                }
            )
        )
    return pa.concat_tables(rows)


def entity_frame(data_dir: Path, *, rows: int = 5_000, seed: int = 11) -> pa.Table:
    """A training request: a sample of transactions with their label, as of each transaction."""
    tx = pq.read_table(data_dir / "transactions.parquet")
    # Leave the first week out: a model is trained once features have history.
    times = tx.column("event_timestamp")
    first = pa.compute.min(times).as_py()
    tx = tx.filter(
        pa.compute.greater_equal(times, pa.scalar(first + timedelta(days=7), times.type))
    )
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(tx.num_rows, min(rows, tx.num_rows), replace=False))
    return tx.take(pa.array(pick)).select(
        ["transaction_id", "user_id", "merchant_id", "amount", "event_timestamp", "is_fraud"]
    )


def _write(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


@dataclass(frozen=True)
class PlantedData:
    """What :func:`plant_skew` changed in the sample data."""

    backfill_rows: int
    backfill_path: Path
    drifted_feature: str
    drift_factor: float


BACKFILL_VIEW = "user_txn_stats"
DRIFTED = ("merchant_risk", "chargeback_rate")


def plant_skew(data_dir: Path, entities: pa.Table, end: datetime, *, rows: int = 40) -> PlantedData:
    """Plant two data defects into generated sample data (the demo and integration test of
    ``parity quickstart --plant-skew``; the third, a tampered online value, needs Redis):

    * a **late-landing backfill**: ``rows`` user stats rows, each just before an entity row's
      time ``t`` (at least two days before ``end``), landed at ``end``: days later than the
      view's ``allowed_lateness``. The training rule drops them; a naive join would take them.
    * a **drifted feature**: the latest merchant risk snapshot has every ``chargeback_rate``
      multiplied by 6, so what is served now differs from what training saw.
    """
    end_us = int(end.timestamp() * US)
    times = pa.compute.cast(entities.column("event_timestamp"), pa.int64()).to_numpy()
    users = entities.column("user_id").to_numpy()
    old = np.flatnonzero(times < end_us - 2 * DAY_US)[:rows]
    event = times[old] - US  # just before t: the naive join's choice at t
    backfill = pa.table(
        {
            "user_id": pa.array(users[old], pa.int64()),
            "event_timestamp": _ts(event),
            "created_timestamp": _ts(np.full(len(old), end_us - 60 * US)),
            "txn_count_1h": pa.array(np.full(len(old), 9), pa.int64()),
            "amount_usd_1h": pa.array(np.full(len(old), 999.0), pa.float64()),
        }
    )
    folder = data_dir / BACKFILL_VIEW / f"day={end:%Y-%m-%d}"  # landed today
    path = _write(backfill, folder / "part-backfill.parquet")
    factor = 6.0
    risk_path = data_dir / "merchant_risk.parquet"
    risk = pq.read_table(risk_path)
    latest = pa.compute.equal(
        risk.column("event_timestamp"), pa.compute.max(risk["event_timestamp"])
    )
    rate = risk.column("chargeback_rate")
    drifted = pa.compute.if_else(latest, pa.compute.multiply(rate, factor), rate)
    risk = risk.set_column(
        risk.schema.get_field_index("chargeback_rate"), "chargeback_rate", drifted
    )
    _write(risk, risk_path)
    return PlantedData(len(old), path, ":".join(DRIFTED), factor)
