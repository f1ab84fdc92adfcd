"""`python -m certgate`: the same as the `certgate` console script."""

from certgate.cli.main import main

main()
