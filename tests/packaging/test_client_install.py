"""The client as a user installs it: client/ built into a wheel, installed into a fresh virtualenv with
`pip install --no-index` (so the declared dependencies must be enough, and nothing comes from the
repository), then `certgate` run from that venv. And the server's wheel holds the server only.

Offline: the dependencies come from a wheelhouse, CERTGATE_WHEELHOUSE if set (CI can fill one with
`pip download`), else wheels repacked from this interpreter's installed distributions (all pure
Python), so the test needs no network and installs exactly the versions the rest of the suite uses."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "client"
_SKIP_DIST_INFO = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}


def _requirements(dist: str) -> list[str]:
    """The names a distribution requires here (markers evaluated as pip would, extras left out)."""
    from packaging.requirements import Requirement

    reqs = [Requirement(r) for r in metadata.requires(dist) or []]
    return [r.name for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def _repack(dist_name: str, into: Path) -> Path:
    """A wheel of an installed pure-Python distribution, from its RECORD (what pip installed)."""
    dist = metadata.distribution(dist_name)
    name = dist.metadata["Name"].replace("-", "_")
    version = dist.version
    info = f"{name}-{version}.dist-info"
    target = into / f"{name}-{version}-py3-none-any.whl"
    records: list[tuple[str, str, str]] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as whl:
        for f in dist.files or []:
            rel = str(f).replace(os.sep, "/")
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
                continue
            if ".dist-info/" in rel:
                base = rel.split("/", 1)[1]
                if base in _SKIP_DIST_INFO:
                    continue
                rel = f"{info}/{base}"
            data = Path(str(dist.locate_file(f))).read_bytes()
            whl.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append((rel, f"sha256={digest}", str(len(data))))
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([*records, (f"{info}/RECORD", "", "")])
        whl.writestr(f"{info}/RECORD", buf.getvalue())
    return target


def _wheelhouse(into: Path) -> Path:
    given = os.environ.get("CERTGATE_WHEELHOUSE")
    if given:
        return Path(given)
    into.mkdir()
    todo, seen = ["botocore", "urllib3", "click"], set()
    while todo:
        dist = todo.pop()
        key = dist.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        _repack(dist, into)
        todo += _requirements(dist)
    return into


def _run(*cmd: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=240,
                            check=False)
    if check and result.returncode != 0:
        pytest.fail(f"{cmd}: exit {result.returncode}\n{result.stdout}\n{result.stderr}", pytrace=False)
    return result


def _build_wheel(project: Path, out: Path) -> Path:
    """Built from a copy: setuptools writes build/ and *.egg-info next to the sources, and a stale build/
    would ship modules deleted since. --no-build-isolation: setuptools from this environment, offline."""
    src = out / f"src-{project.name}"
    shutil.copytree(project, src, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".stack", "out", ".hypothesis", ".*_cache"))
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", out, src, cwd=out)
    return out


@pytest.fixture(scope="module", autouse=True)
def build_backend() -> None:
    import importlib.util

    if importlib.util.find_spec("setuptools") is None:
        pytest.fail("building the wheels offline needs setuptools in the test environment (pip install setuptools)",
                    pytrace=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with the client wheel installed offline; its bin/ directory."""
    tmp = tmp_path_factory.mktemp("client-install")
    (tmp / "dist").mkdir()
    wheels = list(_build_wheel(CLIENT, tmp / "dist").glob("certgate-*.whl"))
    assert len(wheels) == 1, wheels
    house = _wheelhouse(tmp / "wheelhouse")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    _run(bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-index", "--find-links", house, wheels[0],
         cwd=tmp)
    yield bin_dir


def test_the_client_wheel_holds_the_client_only(installed: Path) -> None:
    wheel = next((installed.parent.parent / "dist").glob("certgate-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"certgate", next(t for t in top if t.endswith(".dist-info"))}, top
    assert "certgate/py.typed" in names


def test_certgate_runs_from_a_fresh_venv(installed: Path, tmp_path: Path) -> None:
    helped = _run(installed / "certgate", "--help", cwd=tmp_path)
    assert "Order, follow and fetch TLS certificates" in helped.stdout
    for command in ("order", "authorities", "imports", "completion", "download"):
        assert command in helped.stdout
    completion = _run(installed / "certgate", "completion", "bash", cwd=tmp_path)
    assert "_CERTGATE_COMPLETE=bash_complete" in completion.stdout
    version = _run(installed / "certgate", "--version", cwd=tmp_path)
    assert "0.2.0" in version.stdout


def test_the_server_is_not_importable_from_the_client_venv(installed: Path, tmp_path: Path) -> None:
    probe = ("import importlib.util, certgate, sys\n"
             "print(certgate.__file__)\n"
             "print([m for m in ('chalicelib', 'chalice', 'aws_lambda_powertools', 'simulators', 'certgate_cli')\n"
             "       if importlib.util.find_spec(m) is not None])\n"
             "from certgate import Client, ValidationFailed\n"
             "Client('http://127.0.0.1:1')\n")
    out = _run(installed / "python", "-c", probe, cwd=tmp_path).stdout.splitlines()
    assert out[0].startswith(str(installed.parent)), out  # the installed copy, not the repository's
    assert out[1] == "[]"


def test_an_unreachable_api_exits_5_from_the_installed_command(installed: Path, tmp_path: Path) -> None:
    result = _run(installed / "certgate", "--url", "http://127.0.0.1:9", "show", "crt_" + "0" * 32, cwd=tmp_path,
                  check=False)
    assert result.returncode == 5, result.stderr
    assert "cannot reach http://127.0.0.1:9" in result.stderr


def test_the_server_wheel_holds_chalicelib_only(tmp_path: Path) -> None:
    _build_wheel(ROOT, tmp_path)
    wheel = next(tmp_path.glob("certgate_server-*.whl"))
    top = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in top if not t.endswith(".dist-info")} == {"chalicelib"}, top
