"""Package certgate for a deployed stage: `chalice package` with infra/resources.yaml merged in.

    python -m infra.build --stage dev            # writes out/dev/sam.yaml and out/dev/deployment.zip

Needs no AWS credentials (only a region, defaulted to us-east-1). After packaging it removes from the
zip what the Lambda Python runtime already provides (boto3/botocore, which a dependency such as
aws-xray-sdk drags in), checks what the merge could break — every function keeps Chalice's role and
that role keeps the stage's policy file — and reports the deployment package's size.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "infra" / "resources.yaml"
CHALICE_DIR = ROOT / ".chalice"
STAGES = ("dev", "prod")
# The budget for the zipped Lambda package (Lambda's own limit is 50 MB zipped, 250 MB unzipped).
MAX_ZIP_BYTES = 15_000_000
_OUTPUTS = ("sam.yaml", "sam.json", "deployment.zip")
# In every Lambda Python runtime, and 16 MB of the zip when vendored: pip pulls botocore in whenever a
# requirement depends on it (aws-xray-sdk does), and Chalice has no way to leave a dependency out.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
_DIST_INFO = re.compile(r"^(?P<name>[A-Za-z0-9_.]+?)-[^-/]+\.(dist-info|data)$")


class BuildError(RuntimeError):
    """Packaging failed or produced a template that breaks an invariant."""


@dataclass(frozen=True)
class Package:
    stage: str
    template_path: Path
    zip_path: Path
    template: dict[str, Any]

    @property
    def zip_bytes(self) -> int:
        return self.zip_path.stat().st_size


def merge_template(stage: str) -> dict[str, Any]:
    """infra/resources.yaml with the Stage parameter pinned to `stage` (default and only allowed value),
    so the packaged template cannot be deployed under the other stage's names."""
    if stage not in STAGES:
        raise BuildError(f"stage must be one of {STAGES}, got {stage!r}")
    template = copy.deepcopy(load_template(RESOURCES))
    param = template["Parameters"]["Stage"]
    param["AllowedValues"] = [stage]
    param["Default"] = stage
    return template


def load_template(path: Path) -> dict[str, Any]:
    # Plain YAML is enough: resources.yaml and Chalice's output use long-form intrinsics only.
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise BuildError(f"{path} is not a template")
    return data


def policy_document(stage: str) -> dict[str, Any]:
    """The stage's IAM policy file, as .chalice/config.json names it."""
    config = json.loads((CHALICE_DIR / "config.json").read_text(encoding="utf-8"))
    stage_cfg = config["stages"][stage]
    if stage_cfg.get("autogen_policy", True) or not stage_cfg.get("iam_policy_file"):
        raise BuildError(f"stage {stage!r} must set autogen_policy false and iam_policy_file")
    return json.loads((CHALICE_DIR / stage_cfg["iam_policy_file"]).read_text(encoding="utf-8"))


def role_problems(template: dict[str, Any], stage: str) -> list[str]:
    """What is wrong with the functions' roles: each function must use a role of this template whose
    inline policies are exactly Chalice's one policy built from the stage's policy file."""
    resources = template.get("Resources", {})
    expected = policy_document(stage)
    problems = []
    functions = {k: v for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function"}
    if not functions:
        problems.append("no AWS::Serverless::Function in the template")
    for name, fn in functions.items():
        role_ref = fn.get("Properties", {}).get("Role")
        role_name = role_ref.get("Fn::GetAtt", [None])[0] if isinstance(role_ref, dict) else None
        role = resources.get(role_name or "", {})
        if role.get("Type") != "AWS::IAM::Role":
            problems.append(f"{name}: Role is not a GetAtt of a role in the template ({role_ref!r})")
            continue
        policies = role.get("Properties", {}).get("Policies")
        if policies != [{"PolicyName": f"{role_name}Policy", "PolicyDocument": expected}]:
            problems.append(f"{name}: role {role_name} lost or altered Chalice's policy (from the policy file)")
    return problems


def top_level_package(member: str) -> str:
    """The distribution a zip member belongs to, by its top-level directory (dist-info included)."""
    top = member.split("/", 1)[0]
    match = _DIST_INFO.match(top)
    return (match.group("name") if match else top).lower()


def strip_runtime_provided(zip_path: Path) -> set[str]:
    """Rewrite the zip without RUNTIME_PROVIDED packages; the names actually removed."""
    removed: set[str] = set()
    tmp = zip_path.with_name(zip_path.name + ".tmp")
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            package_name = top_level_package(info.filename)
            if package_name in RUNTIME_PROVIDED:
                removed.add(package_name)
                continue
            dst.writestr(info, src.read(info))  # the ZipInfo keeps permissions and compression
    tmp.replace(zip_path)
    return removed


def _clear(out: Path) -> None:
    # Only what `chalice package` writes: `out` may be a directory the user keeps other files in.
    for name in _OUTPUTS:
        (out / name).unlink(missing_ok=True)


def package(stage: str, out: Path) -> Package:
    """Run `chalice package` for `stage` into `out` with the pinned merge template; verify the result."""
    merge = merge_template(stage)
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with tempfile.TemporaryDirectory(prefix="certgate-infra-") as tmp:
        merge_path = Path(tmp) / "resources.yaml"  # a .yaml merge template makes Chalice write sam.yaml
        merge_path.write_text(yaml.safe_dump(merge, sort_keys=False), encoding="utf-8")
        cmd = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())",
               "package", "--pkg-format", "cloudformation", "--stage", stage,
               "--merge-template", str(merge_path), str(out)]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"chalice package failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    strip_runtime_provided(out / "deployment.zip")
    result = Package(stage=stage, template_path=out / "sam.yaml", zip_path=out / "deployment.zip",
                     template=load_template(out / "sam.yaml"))
    problems = role_problems(result.template, stage)
    if problems:
        raise BuildError("the merged template is broken:\n  " + "\n  ".join(problems))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=STAGES, required=True)
    parser.add_argument("--out", type=Path, help="output directory (default out/<stage>)")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "out" / args.stage
    try:
        pkg = package(args.stage, out)
    except BuildError as exc:
        print(f"infra.build: {exc}", file=sys.stderr)
        return 1
    size_mb = pkg.zip_bytes / 1_000_000
    print(f"{pkg.template_path}  {pkg.zip_path} ({size_mb:.1f} MB)")
    if pkg.zip_bytes > MAX_ZIP_BYTES:
        # A warning, not a failure: Lambda takes it; tests/infra holds the budget.
        print(f"infra.build: warning: deployment.zip is over the {MAX_ZIP_BYTES / 1_000_000:.0f} MB budget "
              "(is boto3/botocore vendored, listed or pulled in by a dependency such as aws-xray-sdk?)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
