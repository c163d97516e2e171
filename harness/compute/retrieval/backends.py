"""The retrieval backends by name, and where a Milvus backend's server is, as data: what a cell asks for
(:class:`IndexRequest`) -> an unfitted :class:`harness.compute.retrieval.index.Index`.

``exact`` searches in process on the cell's device. ``milvus`` searches at ``milvus_uri`` (a Milvus Lite file by
default); under ``milvus = "server"`` without a server URI given, the workdir's own server
(harness.compute.retrieval.milvus_server, started when none runs; its index files are then measured). A server
URI given with --milvus-uri wins in either mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.compute.retrieval.index import Index
from harness.core.errors import HarnessError


@dataclass(frozen=True, kw_only=True)
class IndexRequest:
    """What a cell asks of its search: the backend, and for Milvus where it is and which index it builds."""

    backend: str = "milvus"
    #: a key of MILVUS_TARGETS
    milvus: str = "lite"
    #: harness.compute.retrieval.indexes.index_spec's arguments
    index: str = "FLAT"
    index_params: str = ""
    #: --milvus-uri: a Milvus Lite file, or a server
    milvus_uri: str
    token: str = ""
    #: the cell's torch device: the exact search runs where the embeddings were computed
    device: str = "cpu"
    #: the workdir whose Milvus server ``milvus = "server"`` uses
    workdir: Path | None = None


@dataclass(frozen=True)
class MilvusTarget:
    uri: str
    token: str
    #: the server's index-file folder where it is this host's (the index size is then measured)
    index_files: Path | None = None


def _given(request: IndexRequest) -> MilvusTarget:
    return MilvusTarget(request.milvus_uri, request.token)


def _workdir_server(request: IndexRequest) -> MilvusTarget:
    from harness.compute.retrieval import milvus_server
    from harness.compute.retrieval.indexes import is_lite

    if not is_lite(request.milvus_uri):
        return _given(request)
    if request.workdir is None:
        raise HarnessError('milvus = "server" needs a workdir for its Milvus server, or a server URI (--milvus-uri)')
    state = milvus_server.ensure(request.workdir)
    return MilvusTarget(state.uri, state.token, milvus_server.index_files(request.workdir))


#: ``milvus`` parameter -> where the Milvus backend searches
MILVUS_TARGETS: dict[str, Callable[[IndexRequest], MilvusTarget]] = {"lite": _given, "server": _workdir_server}


def _exact(request: IndexRequest) -> Index:
    from harness.compute.retrieval.exact import ExactIndex

    return ExactIndex(device=request.device)


def _milvus(request: IndexRequest) -> Index:
    from harness.compute.retrieval.indexes import index_spec
    from harness.compute.retrieval.milvus import MilvusIndex

    spec = index_spec(request.index, request.index_params)  # a bad index fails before any server starts
    if request.milvus not in MILVUS_TARGETS:
        raise HarnessError(f"milvus='{request.milvus}': expected one of {', '.join(MILVUS_TARGETS)}")
    target = MILVUS_TARGETS[request.milvus](request)
    return MilvusIndex(target.uri, token=target.token, index=spec, index_files=target.index_files)


#: backend name -> factory of an unfitted index
BACKENDS: dict[str, Callable[[IndexRequest], Index]] = {"milvus": _milvus, "exact": _exact}


def make_index(request: IndexRequest) -> Index:
    """The requested backend's index, not yet fitted; an unknown backend is one error naming the known ones."""
    factory = BACKENDS.get(request.backend)
    if factory is None:
        raise HarnessError(f"unknown retrieval backend '{request.backend}' (known: {', '.join(BACKENDS)})")
    return factory(request)
