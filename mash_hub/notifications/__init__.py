"""In-hub notifications to a role in an agency (break-glass use, escalations)."""
