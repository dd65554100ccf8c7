SELECT p.__rid, p."__event_ts", p."__created_ts", s."x" AS "out"
FROM (SELECT e.__rid, CASE WHEN f.__event_ts IS NOT NULL AND epoch_us(e.__t) - epoch_us(f.__event_ts) <= 600000000 THEN f.__id END AS __id, CASE WHEN f.__event_ts IS NOT NULL AND epoch_us(e.__t) - epoch_us(f.__event_ts) <= 600000000 THEN f.__event_ts END AS "__event_ts", CASE WHEN f.__event_ts IS NOT NULL AND epoch_us(e.__t) - epoch_us(f.__event_ts) <= 600000000 THEN f.__created_ts END AS "__created_ts"
FROM (ENT) AS e
ASOF LEFT JOIN (SELECT *
FROM (SELECT "k", __event_ts, __created_ts, (CAST(__file_idx AS BIGINT) << 40) + __row AS __id, greatest(__event_ts, __created_ts + to_microseconds(CAST(7 AS BIGINT))) AS __vis_ts
FROM (SRC) AS norm WHERE "k" IS NOT NULL AND __event_ts IS NOT NULL AND __created_ts IS NOT NULL AND epoch_us(__created_ts) - epoch_us(__event_ts) <= 5000000) AS cand
QUALIFY max((CAST(epoch_us(__event_ts) AS HUGEINT) << 64) + epoch_us(__created_ts)) OVER (PARTITION BY "k" ORDER BY __vis_ts, __event_ts, __created_ts, __id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) = (CAST(epoch_us(__event_ts) AS HUGEINT) << 64) + epoch_us(__created_ts)
AND coalesce(lead(__vis_ts) OVER (PARTITION BY "k" ORDER BY __vis_ts, __event_ts, __created_ts, __id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) <> __vis_ts, true)) AS f ON e."__key_k" = f."k" AND e.__t > f.__vis_ts) AS p
LEFT JOIN (SELECT (CAST(__file_idx AS BIGINT) << 40) + __row AS __id, "x"
FROM (SRC) AS v) AS s ON p.__id = s.__id
