"""Time-boxed information requests from the MASH to agencies, and the agencies' answers."""
