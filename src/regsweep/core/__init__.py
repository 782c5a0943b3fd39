"""The pure core: what a registry holds and how its parts reference each other.

No I/O, no clock: names, media types, the model (digests, manifests, tags, repositories, the
inventory), the manifest parser, the reference graph, and how artifacts find their subject.
Every other package builds on these values.
"""
