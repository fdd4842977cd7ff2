"""Disclosure out of the MASH: recorded, approved where restricted, sealed, printable."""
