"""Retention rules and the policies that group them: which tags a repository keeps, and why.

Pure: the rules judge an inventory at a time passed in. ``rules`` holds the vocabulary,
``file`` reads a policy file (YAML or TOML) into the same values.
"""
