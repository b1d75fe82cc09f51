"""The Click CLI: a thin shell over :mod:`compile.api`; subcommands load lazily so ``--help`` is instant."""
