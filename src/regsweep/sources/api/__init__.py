"""The registry over its HTTP API (OCI distribution spec): client, auth, TLS, discovery.

Nothing is imported here: a command on storage imports the settings' values of this
package (its budget, its access options) without the HTTP client and httpx.
"""
