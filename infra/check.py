"""Static checks of a packaged template: cfn-lint, checkov (settings in infra/checkov.yaml) and the
IAM action names of every policy (IAM accepts a misspelt action and then silently never grants it).

    python -m infra.check out/dev/sam.yaml

The tools live in .venv-tools (infra/tools.sh), apart from the project's .venv: checkov pins boto3 and
botocore to versions that clash with requirements.txt. CERTGATE_TOOLS_BIN points elsewhere if wanted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHECKOV_CONFIG = ROOT / "infra" / "checkov.yaml"
TOOLS = ("cfn-lint", "checkov")

# Runs in the tools' Python: prints the actions (JSON list on stdin) that policy_sentry does not know.
_UNKNOWN_ACTIONS = """
import json, sys
from policy_sentry.querying.actions import get_action_data
unknown = []
for action in json.load(sys.stdin):
    service, _, name = action.partition(":")
    if "*" not in name and not get_action_data(service, name):
        unknown.append(action)
print(json.dumps(unknown))
"""


@dataclass(frozen=True)
class ToolResult:
    tool: str
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def tools_bin() -> Path:
    return Path(os.environ.get("CERTGATE_TOOLS_BIN") or ROOT / ".venv-tools" / "bin")


def find_tool(name: str) -> Path | None:
    """The tool in the tools virtualenv, else on PATH."""
    candidate = tools_bin() / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def missing_tools() -> list[str]:
    missing = [name for name in TOOLS if find_tool(name) is None]
    if _tools_python() is None:
        missing.append("policy_sentry")
    return missing


def _tools_python() -> Path | None:
    """The interpreter checkov runs under, if policy_sentry (a checkov dependency) imports there."""
    checkov = find_tool("checkov")
    python = checkov.parent / "python" if checkov else None
    if python is None or not python.exists():
        return None
    probe = subprocess.run([str(python), "-c", "import policy_sentry"], capture_output=True, check=False)
    return python if probe.returncode == 0 else None


def _run(tool: str, cmd: list[str], stdin: str | None = None) -> ToolResult:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False, cwd=ROOT)
    return ToolResult(tool, proc.returncode, (proc.stdout + proc.stderr).strip())


def run_cfn_lint(template: Path) -> ToolResult:
    exe = find_tool("cfn-lint")
    if exe is None:
        return ToolResult("cfn-lint", 127, "cfn-lint not found: run `bash infra/tools.sh`")
    # Errors and warnings both fail (exit 2 and 4); informational findings are not reported by default.
    return _run("cfn-lint", [str(exe), "--", str(template)])


def run_checkov(template: Path) -> ToolResult:
    exe = find_tool("checkov")
    if exe is None:
        return ToolResult("checkov", 127, "checkov not found: run `bash infra/tools.sh`")
    return _run("checkov", [str(exe), "--config-file", str(CHECKOV_CONFIG), "-f", str(template)])


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource name, statement) of every identity policy on a role in the template."""
    for name, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::IAM::Role":
            continue
        for policy in res.get("Properties", {}).get("Policies", []):
            for statement in policy.get("PolicyDocument", {}).get("Statement", []):
                yield name, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def run_iam_actions(template: dict[str, Any]) -> ToolResult:
    python = _tools_python()
    if python is None:
        return ToolResult("iam-actions", 127, "policy_sentry not found: run `bash infra/tools.sh`")
    actions = sorted({a for _, st in policy_statements(template) for a in _as_list(st.get("Action", []))})
    result = _run("iam-actions", [str(python), "-c", _UNKNOWN_ACTIONS], stdin=json.dumps(actions))
    if not result.ok:
        return result
    unknown = json.loads(result.output.splitlines()[-1])
    if unknown:
        return ToolResult("iam-actions", 1, f"unknown IAM actions: {', '.join(unknown)}")
    return ToolResult("iam-actions", 0, f"{len(actions)} IAM actions known")


def check(template_path: Path) -> list[ToolResult]:
    from infra.build import load_template

    return [run_cfn_lint(template_path), run_checkov(template_path),
            run_iam_actions(load_template(template_path))]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m infra.check TEMPLATE", file=sys.stderr)
        return 2
    failed = False
    for result in check(Path(args[0])):
        print(f"== {result.tool}: {'ok' if result.ok else f'FAILED ({result.returncode})'}")
        if result.output:
            print(result.output)
        failed = failed or not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
