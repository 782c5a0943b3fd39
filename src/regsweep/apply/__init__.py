"""Apply a Plan: run its actions through an applier, wave by wave, journalled."""
