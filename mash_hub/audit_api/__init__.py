"""The audit trail over the API, for governance tools (SIEM). It sits above the firewall,
which decides each read; the audit kernel below stays free of HTTP."""
