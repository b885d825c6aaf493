-- Daily report history (docs/analytics.md): the worker upserts each channel's (and each
-- location's) day per source partition, the hourly windows of that partition added up, as the faust table keeps them
-- (each partition's windows have their own writer); a row is only replaced by a copy as new
-- or newer (version: the figures counted, which only grows), so a replay writes the same rows.
-- The lead times are kept (not their percentiles, which do not add up) so that the day's
-- percentiles are exact over every partition.
CREATE TABLE analytics_daily_days (
    day date NOT NULL,
    channel text NOT NULL,
    source_partition integer NOT NULL,
    orders_placed integer NOT NULL,
    revenue_minor jsonb NOT NULL,
    cancellations integer NOT NULL,
    rejections integer NOT NULL,
    lead_times_s double precision[] NOT NULL,
    returns integer NOT NULL,
    returned_units jsonb NOT NULL,
    orders_returned integer NOT NULL,
    backorders integer NOT NULL,
    delivery_lead_times_s double precision[] NOT NULL,
    on_time integer NOT NULL,
    late integer NOT NULL,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, channel, source_partition)
);

-- Adding partitions up: per-key amounts summed per key, lead times joined and sorted.
CREATE FUNCTION analytics_add_per_key(sums jsonb, more jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT coalesce(jsonb_object_agg(k, coalesce((sums ->> k)::bigint, 0)
                                        + coalesce((more ->> k)::bigint, 0)), '{}'::jsonb)
    FROM (SELECT jsonb_object_keys(sums) UNION SELECT jsonb_object_keys(more)) AS keys (k)
$$;
CREATE AGGREGATE analytics_sum_per_key(jsonb) (
    SFUNC = analytics_add_per_key, STYPE = jsonb, INITCOND = '{}'
);

CREATE FUNCTION analytics_merge_sorted(joined double precision[], more double precision[])
RETURNS double precision[] LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT coalesce(array_agg(t ORDER BY t), '{}') FROM unnest(joined || more) AS t
$$;
CREATE AGGREGATE analytics_join_sorted(double precision[]) (
    SFUNC = analytics_merge_sorted, STYPE = double precision[], INITCOND = '{}'
);

-- A day's partitions added up. The lead times are there (sorted) for the percentiles: the
-- nearest-rank percentile the reports give is percentile_disc's, e.g.
-- SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY t) FROM unnest(lead_times_s) t.
CREATE VIEW analytics_daily AS
SELECT day, channel,
       sum(orders_placed)::integer AS orders_placed,
       analytics_sum_per_key(revenue_minor) AS revenue_minor,
       sum(cancellations)::integer AS cancellations,
       sum(rejections)::integer AS rejections,
       analytics_join_sorted(lead_times_s) AS lead_times_s,
       sum(returns)::integer AS returns,
       analytics_sum_per_key(returned_units) AS returned_units,
       sum(orders_returned)::integer AS orders_returned,
       sum(backorders)::integer AS backorders,
       analytics_join_sorted(delivery_lead_times_s) AS delivery_lead_times_s,
       sum(on_time)::integer AS on_time,
       sum(late)::integer AS late
FROM analytics_daily_days
GROUP BY day, channel;

-- The same per location.
CREATE TABLE analytics_daily_location_days (
    day date NOT NULL,
    location text NOT NULL,
    source_partition integer NOT NULL,
    offered integer NOT NULL,
    rejected integer NOT NULL,
    resourced integer NOT NULL,
    lead_times_s double precision[] NOT NULL,
    on_time integer NOT NULL,
    late integer NOT NULL,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, location, source_partition)
);

CREATE VIEW analytics_daily_locations AS
SELECT day, location,
       sum(offered)::integer AS offered,
       sum(rejected)::integer AS rejected,
       sum(resourced)::integer AS resourced,
       analytics_join_sorted(lead_times_s) AS lead_times_s,
       sum(on_time)::integer AS on_time,
       sum(late)::integer AS late
FROM analytics_daily_location_days
GROUP BY day, location;
