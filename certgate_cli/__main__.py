"""`python -m certgate_cli`: the same as the `certgate` console script."""

from certgate_cli.main import cli

cli(prog_name="certgate")
