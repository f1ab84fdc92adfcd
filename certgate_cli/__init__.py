"""The `certgate` command line client (see pyproject.toml [project.scripts])."""
