"""The `phoihop` command line: thin wrappers over the core and the shell."""
