"""The OpenAPI 3.1 document of the API, grown operation by operation.

Each API view registers its operation here; a test checks that the document and the URL
map list exactly the same operations.
"""

from __future__ import annotations

from typing import Any

from mash_hub.agencies import AGENCY_CODES, PROFESSIONS, REFERRER_TYPES
from mash_hub.contacts.equality import (
    DISABILITIES,
    ETHNICITIES,
    ETHNICITY_LABELS,
    LANGUAGE_MAX,
    SEXES,
)
from mash_hub.policy.programmes import MEASURES
from mash_hub.presenting_issues import ISSUE_CODES, PRESENTING_ISSUES

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
    "429": _error("The client has made too many calls in the window; see Retry-After"),
}

ID_PARAMETER: dict[str, Any] = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}

RATING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["rag", "rationale", "rated_at", "rated_by", "decision_due_at"],
    "properties": {
        "rag": {"type": "string", "enum": ["red", "amber", "green"]},
        "previous_rag": {"type": ["string", "null"]},
        "rationale": {"type": "string"},
        "rated_at": {"type": "string", "format": "date-time"},
        "rated_by": {"type": "string"},
        "decision_due_at": {"type": "string", "format": "date-time"},
    },
}

VALIDATION_ERROR = _error("Validation failed; `fields` names each bad field")

# api.md: every list pages with `cursor` (a next_cursor it gave out) and `limit`.
PAGE_PARAMETERS: list[dict[str, Any]] = [
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
]


SUBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["role", "given_name", "family_name"],
    "properties": {
        "role": {
            "type": "string",
            "enum": [
                "child", "parent", "carer", "sibling", "household_member", "alleged_perpetrator",
            ],
        },
        "given_name": {"type": "string", "minLength": 1, "maxLength": 100},
        "family_name": {"type": "string", "minLength": 1, "maxLength": 100},
        "date_of_birth": {"type": ["string", "null"], "format": "date"},
        "address": {"type": ["string", "null"], "maxLength": 300},
        "nhs_number": {"type": ["string", "null"], "maxLength": 16},
        "upn": {"type": ["string", "null"], "maxLength": 13},
    },
}  # fmt: skip

# The published list of presenting issues: the codes `presenting_issues` takes.
PRESENTING_ISSUE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "enum": list(ISSUE_CODES),
    "description": "A presenting issue, by code. The codes and what each means:\n"
    + "\n".join(f"- `{issue.code}`: {issue.label}" for issue in PRESENTING_ISSUES),
}

EQUALITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Optional equality information for the Public Sector Equality Duty; every answer "
        "may be left out. Sealed with the contact, shown to the MASH only, never to a "
        "partner answering a request. `ethnicity` is one of the ONS 2021 census ethnic "
        "groups (England and Wales):\n"
        + "\n".join(f"- `{code}`: {label}" for code, label in ETHNICITY_LABELS.items())
    ),
    "properties": {
        "sex": {"type": ["string", "null"], "enum": [*SEXES, None]},
        "ethnicity": {"type": ["string", "null"], "enum": [*ETHNICITIES, None]},
        "disability": {"type": ["string", "null"], "enum": [*DISABILITIES, None]},
        "first_language": {"type": ["string", "null"], "maxLength": LANGUAGE_MAX},
    },
}

# A subject as intake takes it and the contact shows it to the MASH: with its equality.
CONTACT_SUBJECT_SCHEMA: dict[str, Any] = {
    **SUBJECT_SCHEMA,
    "properties": {
        **SUBJECT_SCHEMA["properties"],
        "equality": {"oneOf": [{"$ref": "#/components/schemas/Equality"}, {"type": "null"}]},
    },
}

PRESENTING_ISSUES_LIST: dict[str, Any] = {
    "type": "array",
    "description": "Optional: the presenting issues the contact was recorded with.",
    "maxItems": len(ISSUE_CODES),
    "items": {"$ref": "#/components/schemas/PresentingIssue"},
}

CONTACT_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["received_at", "source", "concern", "consent", "subjects"],
    "properties": {
        "received_at": {"type": "string", "format": "date-time"},
        "source": {
            "type": "object",
            "description": (
                "Who made the contact. `type` defaults to agency, which needs `agency`; "
                "professional needs `profession` and `organisation`; every type but "
                "anonymous needs `referrer_name`, which anonymous must leave out."
            ),
            "properties": {
                "type": {"type": "string", "enum": list(REFERRER_TYPES)},
                "agency": {"type": "string", "enum": list(AGENCY_CODES)},
                "profession": {"type": "string", "enum": list(PROFESSIONS)},
                "organisation": {"type": ["string", "null"], "maxLength": 200},
                "referrer_name": {"type": "string", "minLength": 1, "maxLength": 200},
                "referrer_role": {"type": ["string", "null"], "maxLength": 200},
                "phone": {"type": ["string", "null"], "maxLength": 40},
                "email": {"type": ["string", "null"], "maxLength": 254},
            },
        },
        "concern": {"type": "string", "minLength": 1, "maxLength": 20000},
        "consent": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"type": "string", "enum": ["given", "refused", "not_sought"]},
                "reason": {"type": ["string", "null"], "maxLength": 2000},
            },
        },
        "subjects": {
            "type": "array",
            "minItems": 1,
            "maxItems": 30,
            "items": CONTACT_SUBJECT_SCHEMA,
            "contains": {"type": "object", "properties": {"role": {"const": "child"}}},
        },
        "presenting_issues": PRESENTING_ISSUES_LIST,
        # A step-up from a receiving service: the accepted onward referral it comes through.
        "stepped_up_from_referral": {"type": "string", "format": "uuid"},
    },
}

OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("/oauth/token", "post"): {
        "operationId": "issueToken",
        "summary": "Exchange client credentials (HTTP Basic) for a short-lived access token",
        "description": "Clients registered with a public key authenticate with "
        "private_key_jwt (RFC 7523) instead of HTTP Basic: `client_assertion_type` "
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer and a `client_assertion` "
        "JWT with iss = sub = client_id, aud = this endpoint's URL, exp at most 5 minutes "
        "ahead and a jti used once.",
        "security": [{"clientBasic": []}, {}],
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
                            "client_assertion_type": {
                                "type": "string",
                                "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
                            },
                            "client_assertion": {"type": "string"},
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
            "429": {
                "description": "rate_limited: the client has had its tokens for the minute, or "
                "its address too many failed authentications; see Retry-After",
                "headers": {"Retry-After": {"schema": {"type": "integer"}}},
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
    ("/api/v1/contacts", "post"): {
        "operationId": "createContact",
        "summary": "Record a new contact about a child",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CONTACT_BODY}},
        },
        "responses": {
            "201": {
                "description": "The contact, awaiting screening",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["id", "reference", "status"],
                            "properties": {
                                "id": {"type": "string"},
                                "reference": {"type": "string"},
                                "status": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "400": _error("The body is not JSON"),
            "413": _error("The body is larger than 1 MB"),
            "415": _error("The body is not application/json"),
            "422": VALIDATION_ERROR,
            **BEARER_ERRORS,
        },
    },
    ("/api/v1/contacts/{id}", "get"): {
        "operationId": "getContact",
        "summary": "A contact with its subjects, if the caller's side of the firewall allows",
        "parameters": [ID_PARAMETER],
        "responses": {
            "200": {
                "description": "The contact",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["id", "reference", "received_at", "status", "source",
                                         "concern", "consent", "subjects"],
                            "properties": {
                                "id": {"type": "string"},
                                "reference": {"type": "string"},
                                "received_at": {"type": "string", "format": "date-time"},
                                "status": {"type": "string"},
                                "rag": {"type": ["string", "null"]},
                                "decision_due_at": {
                                    "type": ["string", "null"], "format": "date-time"
                                },
                                "rating_history": {"type": "array", "items": RATING_SCHEMA},
                                "source": CONTACT_BODY["properties"]["source"],
                                "concern": {"type": "string"},
                                "consent": CONTACT_BODY["properties"]["consent"],
                                "subjects": {
                                    "type": "array", "items": CONTACT_SUBJECT_SCHEMA
                                },
                                "presenting_issues": PRESENTING_ISSUES_LIST,
                                "stepped_up_from": {
                                    "type": ["object", "null"],
                                    "properties": {
                                        "contact_id": {"type": "string"},
                                        "reference": {"type": "string"},
                                    },
                                },
                                # Onward referrals made once its outcome was approved.
                                "referrals": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["id", "agency", "status", "reason"],
                                        "properties": {
                                            "id": {"type": "string"},
                                            "agency": {"type": "string"},
                                            "outcome": {"type": "string"},
                                            "status": {
                                                "type": "string",
                                                "enum": [
                                                    "open", "accepted", "declined", "expired"
                                                ],
                                            },
                                            "reason": {"type": "string"},
                                            "decision_reason": {"type": ["string", "null"]},
                                        },
                                    },
                                },
                            },
                        }
                    }
                },
            },
            "404": _error("No such contact, or not on the caller's side of the firewall"),
            **BEARER_ERRORS,
        },
    },
    ("/api/v1/contacts/{id}/rating", "post"): {
        "operationId": "rateContact",
        "summary": "Rate (or re-rate) a contact Red, Amber or Green with a rationale",
        "parameters": [ID_PARAMETER],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["rag", "rationale"],
                        "properties": {
                            "rag": {"type": "string", "enum": ["red", "amber", "green"]},
                            "rationale": {"type": "string", "minLength": 1, "maxLength": 5000},
                        },
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "The rating and the decision deadline it sets",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["rag", "decision_due_at"],
                            "properties": {
                                "rag": {"type": "string"},
                                "decision_due_at": {"type": "string", "format": "date-time"},
                            },
                        }
                    }
                },
            },
            "404": _error("No such contact, or not on the caller's side of the firewall"),
            "409": _error("Changed by someone else at the same moment"),
            "422": VALIDATION_ERROR,
            **BEARER_ERRORS,
        },
    },
    ("/api/v1/contacts/{id}/decision", "post"): {
        "operationId": "proposeDecision",
        "summary": "Propose the screening outcome with its rationale, for a MASH manager's "
        "sign-off",
        "parameters": [ID_PARAMETER],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["outcome", "rationale"],
                        "properties": {
                            "outcome": {"type": "string", "enum": [
                                "strategy_discussion", "s17_assessment", "early_help",
                                "signpost", "no_further_action", "pass_to_allocated_worker",
                            ]},
                            "rationale": {"type": "string", "minLength": 1, "maxLength": 5000},
                        },
                    }
                }
            },
        },
        "responses": {
            "201": {
                "description": "The proposal, waiting for a MASH manager's approval",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["id", "contact_id", "outcome", "status", "proposed_at"],
                            "properties": {
                                "id": {"type": "string"},
                                "contact_id": {"type": "string"},
                                "outcome": {"type": "string"},
                                "status": {"type": "string", "enum": ["awaiting_approval"]},
                                "proposed_at": {"type": "string", "format": "date-time"},
                            },
                        }
                    }
                },
            },
            "404": _error("No such contact, or not on the caller's side of the firewall"),
            "409": _error("Not rated yet, a proposal already awaits approval, or decided"),
            "422": VALIDATION_ERROR,
            **BEARER_ERRORS,
        },
    },
}  # fmt: skip

AUDIT_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["seq", "id", "at", "actor", "agency", "action", "object_type", "object_id",
                 "contact_id", "decision", "isa_id", "clause", "policy_ids", "reason", "hash"],
    "properties": {
        "seq": {"type": "integer"},
        "id": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "kind": {"type": "string"},
        "actor": {"type": "string", "description": "user or client id"},
        "actor_type": {"type": "string", "enum": ["user", "client", "system"]},
        "agency": {"type": ["string", "null"]},
        "action": {"type": "string"},
        "object_type": {"type": ["string", "null"]},
        "object_id": {"type": ["string", "null"]},
        "contact_id": {"type": ["string", "null"]},
        "decision": {"type": "string", "enum": ["allow", "deny"]},
        "isa_id": {"type": ["string", "null"], "description": "space-separated if several"},
        "clause": {"type": ["string", "null"], "description": "space-separated if several"},
        "policy_ids": {"type": "array", "items": {"type": "string"}},
        "reason": {"type": "string"},
        "break_glass": {"type": "boolean"},
        "hash": {
            "type": ["string", "null"],
            "description": "SHA-256 chain hash (hex); null until the sealer has chained it",
        },
    },
}  # fmt: skip


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


OPERATIONS[("/api/v1/audit/events", "get")] = {
    "operationId": "listAuditEvents",
    "summary": "The caller's agency's audit trail, oldest first, for governance tools (SIEM)",
    "parameters": [
        _query("contact_id", "events about this contact"),
        _query("actor", "events by this user or client id"),
        _query("agency", "the agency whose trail to read (default and only: the caller's)"),
        _query("action", "e.g. contact:read"),
        _query("decision", "allow or deny", enum=["allow", "deny"]),
        _query("since", "at or after this time (RFC 3339)", format="date-time"),
        _query("until", "before this time (RFC 3339)", format="date-time"),
        _query("cursor", "next_cursor from the previous page"),
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        },
    ],
    "responses": {
        "200": {
            "description": "A page of events",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["events", "next_cursor"],
                        "properties": {
                            "events": {"type": "array", "items": AUDIT_EVENT_SCHEMA},
                            "next_cursor": {"type": ["string", "null"]},
                        },
                    }
                }
            },
        },
        "403": _error("The token lacks audit:read, or asks for another agency's trail"),
        "422": VALIDATION_ERROR,
        "401": BEARER_ERRORS["401"],
    },
}

# Information requests and partners' answers (mash_hub.sharing).
_JSON_OBJECT: dict[str, Any] = {"type": "object"}
_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "text"],
    "properties": {
        "kind": {"type": "string", "enum": ["fact", "opinion"]},
        "text": {"type": "string", "minLength": 1, "maxLength": 5000},
        "restricted": {"type": "boolean"},
        "measure": {
            "type": "object",
            "description": "Optional: one measure the item carries and its value, such as "
            "school attendance this year. The value is sealed like the item's text; a value "
            "outside the measure's range is refused (422 naming items[n].measure.value). "
            + "; ".join(
                f"`{m.code}`: {m.label}, {m.lowest:g} to {m.highest:g}" for m in MEASURES.values()
            ),
            "required": ["code", "value"],
            "properties": {
                "code": {"type": "string", "enum": list(MEASURES)},
                "value": {"type": "number"},
            },
        },
    },
}


def _ok(description: str, schema: dict[str, Any] = _JSON_OBJECT) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


OPERATIONS.update(
    {
        ("/api/v1/contacts/{id}/requests", "post"): {
            "operationId": "sendRequest",
            "summary": "Ask an agency about a Red or Amber contact, due by the rating's timescale",
            "parameters": [ID_PARAMETER],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["agency", "question"],
                            "properties": {
                                "agency": {"type": "string"},
                                "question": {"type": "string", "minLength": 1, "maxLength": 2000},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": _ok(
                    "The request, open until due_at",
                    {
                        "type": "object",
                        "required": ["id", "agency", "status", "due_at"],
                        "properties": {
                            "id": {"type": "string"},
                            "agency": {"type": "string"},
                            "status": {"type": "string", "enum": ["open"]},
                            "due_at": {"type": "string", "format": "date-time"},
                        },
                    },
                ),
                "404": _error("No such contact, or not on the caller's side of the firewall"),
                "409": _error(
                    "The contact is not Red or Amber, the agency has no agreement in force, "
                    "or it has already been asked"
                ),
                "422": VALIDATION_ERROR,
                **BEARER_ERRORS,
            },
        },
        ("/api/v1/contacts/{id}/contributions", "get"): {
            "operationId": "listContributions",
            "summary": "Every answer on the contact; restricted items withheld but for the "
            "originating agency and MASH managers",
            "parameters": [
                ID_PARAMETER,
                *PAGE_PARAMETERS,
            ],
            "responses": {
                "200": _ok("{contributions: [...], next_cursor}"),
                "422": VALIDATION_ERROR,
                "404": _error("No such contact, or not on the caller's side of the firewall"),
                **BEARER_ERRORS,
            },
        },
        ("/api/v1/requests", "get"): {
            "operationId": "listRequests",
            "summary": "Open requests addressed to the caller's agency, soonest due first",
            "parameters": PAGE_PARAMETERS,
            "responses": {
                "200": _ok("{requests: [...], next_cursor}"),
                "422": VALIDATION_ERROR,
                **BEARER_ERRORS,
            },
        },
        ("/api/v1/requests/{id}", "get"): {
            "operationId": "getRequest",
            "summary": "Need-to-know view of a request: subjects, question, due time, own answer",
            "parameters": [ID_PARAMETER],
            "responses": {
                "200": _ok("The request"),
                "404": _error("No such request, another agency's, past its due time or withdrawn"),
                **BEARER_ERRORS,
            },
        },
        ("/api/v1/requests/{id}/response", "post"): {
            "operationId": "answerRequest",
            "summary": "The agency's one answer to an open request, before its due time",
            "parameters": [ID_PARAMETER],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["outcome"],
                            "properties": {
                                "outcome": {
                                    "type": "string",
                                    "enum": ["not_known", "information_held", "unable_to_respond"],
                                },
                                "items": {"type": "array", "maxItems": 50, "items": _ITEM_SCHEMA},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": _ok("The answer was recorded"),
                "404": _error("No such request, or another agency's"),
                "409": _error("The request has expired, been withdrawn or already been answered"),
                "422": VALIDATION_ERROR,
                **BEARER_ERRORS,
            },
        },
    }
)


# Amending a contact during screening (#13): the contract's 2026-12 addition.
OPERATIONS[("/api/v1/contacts/{id}/amendments", "post")] = {
    "operationId": "amendContact",
    "summary": "Correct a subject's details, add a person found by checks, or add a case note "
    "(MASH only, never shared); append-only, with the reason",
    "parameters": [ID_PARAMETER],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["kind"],
                    "properties": {
                        "kind": {
                            "type": "string",
                            "enum": ["subject_corrected", "subject_added", "note"],
                        },
                        "subject_id": {"type": "string"},
                        "subject": {"type": "object"},
                        "text": {"type": "string", "maxLength": 5000},
                        "reason": {"type": "string", "maxLength": 2000},
                    },
                }
            }
        },
    },
    "responses": {
        "201": _ok(
            "The amendment, kept",
            {
                "type": "object",
                "required": ["id", "kind", "sequence", "made_at"],
                "properties": {
                    "id": {"type": "string"},
                    "kind": {"type": "string"},
                    "sequence": {"type": "integer"},
                    "subject_id": {"type": ["string", "null"]},
                    "made_at": {"type": "string", "format": "date-time"},
                },
            },
        ),
        "404": _error("No such contact, not on the caller's side of the firewall, or closed"),
        "409": _error("Amended by someone else at the same moment"),
        "422": VALIDATION_ERROR,
        **BEARER_ERRORS,
    },
}


# Webhook subscriptions (#14): the contract's 2026-12 addition.
_SUBSCRIPTION_FIELDS: dict[str, Any] = {
    "id": {"type": "string"},
    "url": {"type": "string"},
    "kinds": {"type": "array", "items": {"type": "string"}},
    "created_at": {"type": "string", "format": "date-time"},
}
_SUBSCRIPTION: dict[str, Any] = {
    "type": "object",
    "required": ["id", "url", "kinds", "created_at"],
    "properties": _SUBSCRIPTION_FIELDS,
}
OPERATIONS[("/api/v1/subscriptions", "post")] = {
    "operationId": "subscribe",
    "summary": "Register a callback URL (on the hub's allow-list) for some kinds of event; the "
    "signing secret is in this answer only. Deliveries: CloudEvents 1.0 JSON, signed with "
    "Webhook-Id, Webhook-Timestamp and Webhook-Signature (v1, HMAC-SHA-256)",
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["url", "kinds"],
                    "properties": {
                        "url": {"type": "string", "maxLength": 500},
                        "kinds": {
                            "type": "array",
                            "items": {
                                "type": "string",
                                "enum": [
                                    "request.sent",
                                    "request.due_soon",
                                    "request.overdue",
                                    "decision.returned",
                                    "decision.approved",
                                    "referral.sent",
                                ],
                            },
                        },
                    },
                }
            }
        },
    },
    "responses": {
        "201": _ok(
            "The subscription and its secret (shown once)",
            {
                "type": "object",
                "required": ["id", "url", "kinds", "created_at", "secret"],
                "properties": {**_SUBSCRIPTION_FIELDS, "secret": {"type": "string"}},
            },
        ),
        "422": VALIDATION_ERROR,
        **BEARER_ERRORS,
    },
}
OPERATIONS[("/api/v1/subscriptions", "get")] = {
    "operationId": "listSubscriptions",
    "summary": "The calling client's live subscriptions (never their secrets)",
    "responses": {
        "200": _ok(
            "The subscriptions",
            {
                "type": "object",
                "required": ["subscriptions"],
                "properties": {"subscriptions": {"type": "array", "items": _SUBSCRIPTION}},
            },
        ),
        **BEARER_ERRORS,
    },
}
OPERATIONS[("/api/v1/subscriptions/{id}", "delete")] = {
    "operationId": "endSubscription",
    "summary": "End one of the calling client's subscriptions; deliveries not yet made die",
    "parameters": [ID_PARAMETER],
    "responses": {
        "204": {"description": "Ended"},
        "404": _error("No such live subscription of this client"),
        **BEARER_ERRORS,
    },
}


# Onward referrals (step-down) to a receiving service: the contract's 2026-12 addition.
_FAMILY_MEMBER: dict[str, Any] = {
    "type": "object",
    "required": ["role", "given_name", "family_name", "date_of_birth", "address"],
    "properties": {
        "role": {"type": "string"},
        "given_name": {"type": "string"},
        "family_name": {"type": "string"},
        "date_of_birth": {"type": ["string", "null"], "format": "date"},
        "address": {"type": ["string", "null"]},
    },
}
_REFERRAL_STATUS: dict[str, Any] = {
    "type": "string",
    "enum": ["open", "accepted", "declined", "expired"],
}
_REFERRAL_ROW: dict[str, Any] = {
    "type": "object",
    "required": ["id", "contact_reference", "status", "referred_at", "due_at", "decided_at"],
    "properties": {
        "id": {"type": "string"},
        "contact_reference": {"type": "string"},
        "status": _REFERRAL_STATUS,
        "referred_at": {"type": "string", "format": "date-time"},
        "due_at": {"type": "string", "format": "date-time"},
        "decided_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
OPERATIONS[("/api/v1/referrals", "get")] = {
    "operationId": "listReferrals",
    "summary": "Onward referrals addressed to the caller's service that it may still see: "
    "open ones first, soonest due first, then accepted ones within their read window",
    "parameters": PAGE_PARAMETERS,
    "responses": {
        "200": _ok(
            "{referrals: [...], next_cursor}",
            {
                "type": "object",
                "required": ["referrals", "next_cursor"],
                "properties": {
                    "referrals": {"type": "array", "items": _REFERRAL_ROW},
                    "next_cursor": {"type": ["string", "null"]},
                },
            },
        ),
        "422": VALIDATION_ERROR,
        **BEARER_ERRORS,
    },
}
OPERATIONS[("/api/v1/referrals/{id}", "get")] = {
    "operationId": "getReferral",
    "summary": "What the receiving service's agreement allows: the family's subjects (names, "
    "dates of birth, addresses, roles), the reason for the referral and the due time; never "
    "the concern, rating or partners' answers",
    "parameters": [ID_PARAMETER],
    "responses": {
        "200": _ok(
            "The referral",
            {
                "type": "object",
                "required": ["id", "contact_reference", "status", "reason", "subjects", "due_at"],
                "properties": {
                    "id": {"type": "string"},
                    "contact_reference": {"type": "string"},
                    "agency": {"type": "string"},
                    "outcome": {"type": "string"},
                    "status": _REFERRAL_STATUS,
                    "reason": {"type": "string"},
                    "subjects": {"type": "array", "items": _FAMILY_MEMBER},
                    "referred_at": {"type": "string", "format": "date-time"},
                    "due_at": {"type": "string", "format": "date-time"},
                    "decided_at": {"type": ["string", "null"], "format": "date-time"},
                    "decision_reason": {"type": ["string", "null"]},
                    "readable_until": {"type": ["string", "null"], "format": "date-time"},
                },
            },
        ),
        "404": _error(
            "No such referral, another service's, past its due time undecided, declined, or "
            "past its read window"
        ),
        **BEARER_ERRORS,
    },
}
OPERATIONS[("/api/v1/referrals/{id}/decision", "post")] = {
    "operationId": "decideReferral",
    "summary": "The receiving service accepts or declines its referral (a reason is required "
    "to decline), while it is open and before its due time; the decision is final",
    "parameters": [ID_PARAMETER],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["decision"],
                    "properties": {
                        "decision": {"type": "string", "enum": ["accepted", "declined"]},
                        "reason": {"type": "string", "maxLength": 2000},
                    },
                }
            }
        },
    },
    "responses": {
        "200": _ok(
            "The decision was recorded",
            {
                "type": "object",
                "required": ["id", "status", "decided_at"],
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": ["accepted", "declined"]},
                    "decided_at": {"type": "string", "format": "date-time"},
                },
            },
        ),
        "404": _error("No such referral, or another service's"),
        "409": _error("The referral has already been decided, or its due time has passed"),
        "422": VALIDATION_ERROR,
        **BEARER_ERRORS,
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
            "schemas": {
                "Error": ERROR_SCHEMA,
                "PresentingIssue": PRESENTING_ISSUE_SCHEMA,
                "Equality": EQUALITY_SCHEMA,
            },
        },
    }
