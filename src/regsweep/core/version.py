"""regsweep's version, here so that every layer can name it (the API client sends it in its
User-Agent) without importing the package root and, through it, every layer above."""

VERSION = "0.1.0"
