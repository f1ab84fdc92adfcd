"""The `certgate` command (docs/cli.md), built on certgate.Client."""
