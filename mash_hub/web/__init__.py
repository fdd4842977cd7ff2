"""Web plumbing shared by pages and the API: sessions, headers, errors, the gate."""
