-- The staff actions the staff API took (applied or refused) and published to
-- oms.staff-actions under their id: the live consumer skips exactly those. An action that
-- only claims the API's source is applied like any other.
CREATE TABLE staff_api_actions (
    action_id uuid        PRIMARY KEY,
    taken_at  timestamptz NOT NULL DEFAULT now()
);
