"""The OpenAPI 3.1 document of the API, grown operation by operation.

Each API view registers its operation here; a test checks that the document and the URL
map list exactly the same operations.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

TOKEN_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


BEARER_ERRORS = {
    "401": _error("No token, or an invalid, expired or revoked one"),
    "403": _error("The token's scopes do not allow this"),
}

OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("/oauth/token", "post"): {
        "operationId": "issueToken",
        "summary": "Exchange client credentials (HTTP Basic) for a short-lived access token",
        "security": [{"clientBasic": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "scope": {
                                "type": "string",
                                "description": "Space-separated scopes; omitted means all "
                                "of the client's scopes",
                            },
                        },
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "A bearer token",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["access_token", "token_type", "expires_in", "scope"],
                            "properties": {
                                "access_token": {"type": "string"},
                                "token_type": {"type": "string", "enum": ["Bearer"]},
                                "expires_in": {"type": "integer"},
                                "scope": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "400": {
                "description": "invalid_scope, unsupported_grant_type or invalid_request",
                "content": {"application/json": {"schema": TOKEN_ERROR_SCHEMA}},
            },
            "401": {
                "description": "invalid_client",
                "content": {"application/json": {"schema": TOKEN_ERROR_SCHEMA}},
            },
        },
    },
    ("/api/v1/openapi.json", "get"): {
        "operationId": "getOpenApi",
        "summary": "This document",
        "security": [],
        "responses": {"200": {"description": "The OpenAPI 3.1 document"}},
    },
    ("/api/v1/whoami", "get"): {
        "operationId": "whoAmI",
        "summary": "The client the token belongs to: its agency and scopes",
        "responses": {
            "200": {
                "description": "The calling client",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["client_id", "agency", "scopes"],
                            "properties": {
                                "client_id": {"type": "string"},
                                "agency": {"type": "string"},
                                "scopes": {"type": "array", "items": {"type": "string"}},
                            },
                        }
                    }
                },
            },
            **BEARER_ERRORS,
        },
    },
    ("/api/v1/agencies", "get"): {
        "operationId": "listAgencies",
        "summary": "The agencies of the hub, by code, for addressing information requests",
        "responses": {
            "200": {
                "description": "Every agency",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["agencies", "next_cursor"],
                            "properties": {
                                "agencies": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["code", "name", "mash_core"],
                                        "properties": {
                                            "code": {"type": "string"},
                                            "name": {"type": "string"},
                                            "mash_core": {"type": "boolean"},
                                        },
                                    },
                                },
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        }
                    }
                },
            },
            **BEARER_ERRORS,
        },
    },
}


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (path, method), operation in OPERATIONS.items():
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "MASH Hub API",
            "version": "1.0.0",
            "description": "The JSON API agency systems use: the same firewall, agreements "
            "and audit as the hub's pages.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "clientBasic": {"type": "http", "scheme": "basic"},
            },
            "schemas": {"Error": ERROR_SCHEMA},
        },
    }
