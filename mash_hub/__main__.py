"""`python -m mash_hub` is the `mash-hub` command."""

from mash_hub.cli import main

main()
