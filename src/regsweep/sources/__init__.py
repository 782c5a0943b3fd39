"""Discovery: where an :class:`~regsweep.core.model.Inventory` comes from (storage or API)."""
