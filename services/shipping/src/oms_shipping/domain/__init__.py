"""Pure rules of fulfilment at a location and of parcel tracking."""
