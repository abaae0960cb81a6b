"""Talking to Keap: the client (one method per operation), the transport (one request with
retries, pacing and bounded reads), waits, and credentials (API key, token, OAuth app).

May import: `domain`, `system`, `errors`, `version`.
"""
