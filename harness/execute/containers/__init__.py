"""Pinned images per model family, single-cell container runs and the Milvus sidecar (the Docker SDK).

Images (data, not code): ``containers/base`` (Debian by digest, non-root user, the harness and its locked
dependencies), one folder per model family that adds only that family's library, and the Milvus sidecars
(:data:`SIDECARS`): ``containers/milvus`` (the real Milvus standalone server from the locked ``milvus`` wheel,
the default) and ``containers/milvus-lite`` (Milvus Lite's gRPC server, the light option). Every image is
tagged ``ecombench/<name>:<version>``; its id (``sha256:...``, what ``docker image inspect`` reports) is
recorded in each result row it produced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import harness
from harness.compute.models import FAMILIES as MODEL_FAMILIES
from harness.core.errors import HarnessError
from harness.core.provenance import REPO

if TYPE_CHECKING:
    import docker

CONTAINERS = REPO / "containers"


@dataclass(frozen=True)
class Image:
    name: str  # folder under containers/, and the image's name
    description: str
    base: bool = True  # built FROM ecombench/base
    model_kinds: tuple[str, ...] = ()  # for a model family: the model id kinds it runs

    @property
    def tag(self) -> str:
        return f"ecombench/{self.name}:{harness.__version__}"

    @property
    def dockerfile(self) -> str:
        return f"containers/{self.name}/Dockerfile"


BASE = Image("base", "Debian bookworm by digest, Python 3.11, the harness and its locked dependencies", base=False)
#: model families: one folder each; a family whose models need another library gets its own folder
_TIMM_KINDS = tuple(kind for kind, family in MODEL_FAMILIES.items() if family.library in ("timm", ""))
FAMILY_IMAGES = {
    "timm": Image("timm", "supervised and self-supervised backbones", model_kinds=_TIMM_KINDS),
    "open_clip": Image("open_clip", "text-image backbones (and timm)", model_kinds=("open_clip", *_TIMM_KINDS)),
    "transformers": Image("transformers", "Hugging Face transformers checkpoints", model_kinds=("hf",)),
}


@dataclass(frozen=True)
class Sidecar:
    """A Milvus sidecar kind (``--milvus-sidecar``): its image and how long its start may take."""

    kind: str
    image: Image
    start_timeout_s: float


MILVUS_SERVER = Image("milvus", "Milvus sidecar: the real Milvus standalone server (the default)")
MILVUS_LITE = Image("milvus-lite", "Milvus sidecar: milvus-lite's gRPC server (the light option)")
#: the Milvus sidecars of retrieval cells on Milvus under --container, by kind; the first is the default. The
#: server starts in ~5-10 s in its container (its health check also waits for a client call to succeed).
SIDECARS = {"server": Sidecar("server", MILVUS_SERVER, 240.0), "lite": Sidecar("lite", MILVUS_LITE, 120.0)}
DEFAULT_SIDECAR = next(iter(SIDECARS))
IMAGES = {image.name: image for image in (BASE, *FAMILY_IMAGES.values(), *(s.image for s in SIDECARS.values()))}


def get_image(name: str) -> Image:
    if name not in IMAGES:
        raise HarnessError(f"unknown container image '{name}': known are {', '.join(IMAGES)}")
    return IMAGES[name]


def get_family(name: str) -> Image:
    if name not in FAMILY_IMAGES:
        raise HarnessError(f"unknown model family '{name}' for --container: known are {', '.join(FAMILY_IMAGES)}")
    return FAMILY_IMAGES[name]


def get_sidecar(kind: str) -> Sidecar:
    if kind not in SIDECARS:
        raise HarnessError(f"unknown Milvus sidecar '{kind}' for --milvus-sidecar: known are {', '.join(SIDECARS)}")
    return SIDECARS[kind]


def engine() -> docker.DockerClient:
    """A client for the Docker engine of DOCKER_HOST (default: the local socket), checked with a ping."""
    import docker
    import requests

    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise HarnessError(
            f"cannot reach the Docker engine at {where}: start dockerd (`sudo dockerd &` or `sudo systemctl start "
            f"docker`; Debian: `apt-get install docker.io`) or point DOCKER_HOST at a running engine ({exc})"
        ) from exc
    return client


def image_id(client: docker.DockerClient, image: Image) -> str:
    """The image's id, ``sha256:<64 hex>``: the digest of its configuration, as ``docker image inspect`` shows."""
    import docker

    try:
        return str(client.images.get(image.tag).id)
    except docker.errors.ImageNotFound:
        raise HarnessError(
            f"image {image.tag} is not built: run `ecombench containers build {image.name}` first"
        ) from None
