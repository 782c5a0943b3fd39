"""Discovery: where an :class:`~regsweep.model.Inventory` comes from (storage or API)."""
