"""The breach log: suspected personal data breaches, their clocks and their follow-up."""
