WITH
__pn AS MATERIALIZED (SELECT e.*, l.__event_ts AS __n__event_ts, l.__created_ts AS __n__created_ts, l.__id AS __n__id, coalesce(greatest(l.__event_ts, l.__created_ts + to_microseconds(CAST(7 AS BIGINT))) < e.__t AND epoch_us(l.__created_ts) - epoch_us(l.__event_ts) <= 5000000, false) AS __ok
FROM (ENT) AS e
ASOF
LEFT JOIN (SELECT "k", __event_ts, __created_ts, (CAST(s.__file_idx AS BIGINT) << 40) + s.__row AS __id
FROM (SRC) AS s WHERE s."k" IS NOT NULL AND s."__event_ts" IS NOT NULL AND s."__created_ts" IS NOT NULL) AS l ON e."__key_k" = l."k" AND e.__t > l.__event_ts),
__pcand AS MATERIALIZED (SELECT s."k", s."__event_ts", s."__created_ts", s."__file_idx", s."__row", s."x"
FROM (SRC) AS s
LEFT JOIN (SELECT DISTINCT "__key_k" AS "k", __n__event_ts, true AS __hit
FROM __pn WHERE __ok) AS p ON s."k" = p."k" AND p.__n__event_ts = s.__event_ts
LEFT JOIN (SELECT DISTINCT "__key_k" AS "k", true AS __hit
FROM __pn WHERE NOT __ok AND __n__id IS NOT NULL) AS q ON s."k" = q."k" WHERE s."k" IS NOT NULL AND s."__event_ts" IS NOT NULL AND s."__created_ts" IS NOT NULL AND (p.__hit OR q.__hit)),
__psecond AS MATERIALIZED (WITH __prest AS MATERIALIZED (SELECT __rid, "__key_k", __t, __n__event_ts, __n__created_ts
FROM __pn WHERE __n__id IS NOT NULL AND (NOT __ok OR __rid IN (SELECT m.__rid
FROM __pn AS m SEMI JOIN __pcand AS c ON m."__key_k" = c."k" AND c.__event_ts = m.__n__event_ts AND (CAST(c.__file_idx AS BIGINT) << 40) + c.__row <> m.__n__id WHERE m.__ok))) SELECT r.*, f."__event_ts", f."__created_ts", f."__v0"
FROM __prest AS r
ASOF
LEFT JOIN (SELECT *
FROM (SELECT "k", __event_ts, __created_ts, (CAST(__file_idx AS BIGINT) << 40) + __row AS __id, "x" AS __v0, greatest(__event_ts, __created_ts + to_microseconds(CAST(7 AS BIGINT))) AS __vis_ts
FROM (SELECT *
FROM __pcand) AS norm SEMI JOIN (SELECT DISTINCT "__key_k" AS "k"
FROM __prest) AS o ON norm."k" = o."k" WHERE "k" IS NOT NULL AND __event_ts IS NOT NULL AND __created_ts IS NOT NULL AND epoch_us(__created_ts) - epoch_us(__event_ts) <= 5000000) AS cand QUALIFY max((CAST(epoch_us(__event_ts) AS HUGEINT) << 64) + epoch_us(__created_ts)) OVER (PARTITION BY "k" ORDER BY __vis_ts, __event_ts, __created_ts, __id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) = (CAST(epoch_us(__event_ts) AS HUGEINT) << 64) + epoch_us(__created_ts) AND coalesce(lead(__vis_ts) OVER (PARTITION BY "k" ORDER BY __vis_ts, __event_ts, __created_ts, __id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) <> __vis_ts, true)) AS f ON r."__key_k" = f."k" AND r.__t > f.__vis_ts) SELECT g.__rid, CASE WHEN g.__g__event_ts IS NOT NULL AND epoch_us(g.__t) - epoch_us(g.__g__event_ts) <= 600000000 THEN g.__g__event_ts END AS "__event_ts", CASE WHEN g.__g__event_ts IS NOT NULL AND epoch_us(g.__t) - epoch_us(g.__g__event_ts) <= 600000000 THEN g.__g__created_ts END AS "__created_ts", CASE WHEN g.__g__event_ts IS NOT NULL AND epoch_us(g.__t) - epoch_us(g.__g__event_ts) <= 600000000 THEN g.__g__v0 END AS "out"
FROM (SELECT m.*, CASE WHEN p.__rid IS NULL THEN m.__n__event_ts ELSE p.__event_ts END AS __g__event_ts, CASE WHEN p.__rid IS NULL THEN m.__n__created_ts ELSE p.__created_ts END AS __g__created_ts, CASE WHEN p.__rid IS NULL THEN c."x" ELSE p.__v0 END AS __g__v0
FROM __pn AS m
LEFT JOIN __pcand AS c ON (CAST(c.__file_idx AS BIGINT) << 40) + c.__row = m.__n__id
LEFT JOIN __psecond AS p ON m.__rid = p.__rid) AS g
