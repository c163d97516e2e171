"""Build the images with BuildKit, streaming the build log.

Builds go through the ``docker`` CLI, not the Docker SDK: docker-py only speaks the classic builder, which has
no ``--secret``, and the CA bundle of a TLS-intercepting proxy must reach ``uv``/``pip`` during the build
without landing in a layer. Everything else (images, networks, containers, logs) uses the SDK.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.provenance import REPO, git_sha
from harness.execute.containers import BASE, CONTAINERS, FAMILY_IMAGES, SIDECARS, Image, get_image

#: proxy settings forwarded as build arguments by name (their values stay out of the command line)
FORWARDED_ARGS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


def build_plan(names: list[str]) -> list[Image]:
    """The images to build, in order: the base first, then each named image (all of them if none is named)."""
    wanted = [get_image(name) for name in names] or [*FAMILY_IMAGES.values(), *(s.image for s in SIDECARS.values())]
    return [BASE, *(image for image in dict.fromkeys(wanted) if image is not BASE)]


def ca_bundle() -> Path | None:
    """The CA bundle passed to builds as the BuildKit secret ``ca``: ECOMBENCH_CA_BUNDLE, SSL_CERT_FILE or
    Debian's bundle, whichever is set first and exists."""
    for candidate in (os.environ.get("ECOMBENCH_CA_BUNDLE"), os.environ.get("SSL_CERT_FILE")):
        if candidate:
            return Path(candidate) if Path(candidate).is_file() else None
    debian = Path("/etc/ssl/certs/ca-certificates.crt")
    return debian if debian.is_file() else None


def buildkit_cli() -> list[str]:
    """A docker command line that builds with BuildKit: ``docker buildx build --load`` where buildx is
    installed, else a classic (< 23) CLI, which builds with BuildKit itself when DOCKER_BUILDKIT=1."""
    candidates = [os.environ.get("ECOMBENCH_DOCKER_CLI"), shutil.which("docker"), "/usr/bin/docker"]
    for exe in dict.fromkeys(c for c in candidates if c and Path(c).is_file()):
        if subprocess.run([exe, "buildx", "version"], capture_output=True).returncode == 0:
            return [exe, "buildx", "build", "--load"]
        out = subprocess.run([exe, "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True)
        major = out.stdout.strip().split(".")[0]
        if major.isdigit() and int(major) < 23:
            return [exe, "build"]
    raise HarnessError(
        "no docker CLI here can build with BuildKit (needed for build secrets): install the buildx plugin "
        "(Debian: docker-buildx) or Debian's docker.io, or set ECOMBENCH_DOCKER_CLI to such a docker binary"
    )


def build_command(image: Image, cli: list[str], base_image: str | None, ca: Path | None) -> list[str]:
    cmd = [*cli, "--progress=plain", "-f", str(REPO / image.dockerfile), "-t", image.tag]
    cmd += ["--build-arg", f"ECOMBENCH_GIT_SHA={git_sha()}"]
    if image is BASE and base_image:
        cmd += ["--build-arg", f"BASE_IMAGE={base_image}"]
    if image.base:
        cmd += ["--build-arg", f"BASE={BASE.tag}"]
    cmd += [arg for name in FORWARDED_ARGS if name in os.environ for arg in ("--build-arg", name)]
    if ca is not None:
        cmd += ["--secret", f"id=ca,src={ca}"]
    return [*cmd, str(REPO)]


def build(names: list[str], base_image: str | None = None, echo: Callable[[str], None] | None = None) -> list[Image]:
    """Build the base and the named images (all when none is named), streaming the build log to ``echo``."""
    echo = echo or (lambda line: print(line, end="", file=sys.stderr))
    if not CONTAINERS.is_dir():
        raise HarnessError(f"no containers/ folder at {CONTAINERS}: builds need the repository checkout")
    plan, cli, ca = build_plan(names), buildkit_cli(), ca_bundle()
    for image in plan:
        cmd = build_command(image, cli, base_image, ca)
        echo(f"$ {' '.join(cmd)}\n")
        tail: collections.deque[str] = collections.deque(maxlen=30)
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                tail.append(line)
                echo(line)
        if proc.returncode:
            raise HarnessError(f"building {image.tag} failed (exit {proc.returncode}); last lines:\n{''.join(tail)}")
    return plan
