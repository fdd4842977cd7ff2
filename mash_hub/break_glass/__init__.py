"""Break-glass: emergency access to one contact outside the normal rules, for a short
window, and its review. A feature built on the firewall, not part of it: the firewall
only asks whether a window is open (a query it owns on the grants table)."""
