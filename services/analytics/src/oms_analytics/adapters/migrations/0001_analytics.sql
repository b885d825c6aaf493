-- The analytics service's first tables. Migrations are forward only and checked: never edit one
-- that was applied; add the next number instead (docs/runtime.md).
CREATE TABLE IF NOT EXISTS analytics_settings (
    name text PRIMARY KEY,
    value jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
