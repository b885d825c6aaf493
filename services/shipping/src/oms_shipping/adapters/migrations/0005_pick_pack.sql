-- Each item's size and weight, imported from the catalogue (python -m oms_shipping catalogue
-- import FILE); a later import overwrites an item, items it does not list stay.
CREATE TABLE items (
    sku          text PRIMARY KEY,
    length_mm    integer,
    width_mm     integer,
    height_mm    integer,
    weight_g     integer,
    imported_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((length_mm IS NULL) = (width_mm IS NULL) AND (width_mm IS NULL) = (height_mm IS NULL))
);
