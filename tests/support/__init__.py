"""Test harness shared by the test suite, benchmarks and demos: a real registry, an
independent image pusher, storage-tree helpers and skopeo as the reference client."""
