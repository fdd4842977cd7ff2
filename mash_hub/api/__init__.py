"""The JSON API v1 for agency systems, and the OAuth2 token endpoint."""
