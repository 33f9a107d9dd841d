"""Authentication and authorisation helpers of the hub API.

Pure pieces (``scopes``, ``tokens``, ``api_keys``, ``ratelimit``, ``passwords``) know nothing of
FastAPI; ``keys`` reads and writes the generated secrets; ``store`` talks to the database.
FastAPI dependencies live in :mod:`hub.api.auth`.
"""
