"""`chalice local`, with the launcher's environment winning over .chalice/config.json.

  python -m devstack.chalice_local local --no-autoreload --stage local --port 8000

Chalice copies the stage's environment_variables over the process environment when it loads
app.py, so an override the launcher applies (MOTO_PORT=5001, hence AWS_ENDPOINT_URL; a renamed
table) would silently be lost. This is Chalice's own CLI, unchanged except that each variable the
stage declares takes the value already in the environment, when there is one."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

from chalice import cli
from chalice.cli.factory import CLIFactory
from chalice.constants import DEFAULT_STAGE_NAME


class EnvironmentWinsFactory(CLIFactory):
    def create_config_obj(self, chalice_stage_name: str = DEFAULT_STAGE_NAME,
                          autogen_policy: bool | None = None, api_gateway_stage: str | None = None,
                          user_provided_params: dict[str, Any] | None = None) -> Any:
        declared = super().create_config_obj(chalice_stage_name).environment_variables
        params = dict(user_provided_params or {})
        params["environment_variables"] = {name: os.environ.get(name, value) for name, value in declared.items()}
        return super().create_config_obj(chalice_stage_name, autogen_policy, api_gateway_stage, params)


def main() -> int:
    # Routes carry IAMAuthorizer for the deployed stages; locally X-Certgate-Principal stands in,
    # and Chalice would otherwise warn on every single request.
    warnings.filterwarnings("ignore", message="IAMAuthorizer is not a supported in local mode")
    cli.CLIFactory = EnvironmentWinsFactory  # type: ignore[misc]  # the `chalice` group builds its factory from this name
    sys.argv[0] = "chalice"
    return int(cli.main() or 0)


if __name__ == "__main__":
    sys.exit(main())
