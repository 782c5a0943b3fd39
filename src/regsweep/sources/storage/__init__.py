"""The registry's storage tree, read (and later written) directly."""
