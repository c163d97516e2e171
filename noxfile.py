"""Developer and reproduction sessions. Each session gets its own uv-managed environment from uv.lock.

    nox -s tests          the whole test suite (CPU; real Milvus Lite, DuckDB, timm/open_clip models)
    nox -s lint           ruff (lint + format check), mypy on harness/ and its layer contracts (import-linter)
    nox -s bench-smoke    the smoke grid on embedded defaults, then the Markdown report
    nox -s bench-full     the paper's whole study (suites/paper.toml): preflight, prepare, grid, report;
                          resumable (e.g. ``nox -s bench-full -- --dry-run``, ``-- suites/paper-mini.toml
                          --make-replicas .ecombench-mini/data``)
    nox -s bench-pipeline the harness's pipeline efficiency (pipeline img/s / raw forward img/s), per stage
    nox -s bench-retrieval the exact backend vs faiss (ratio), then every backend on the same vectors
    nox -s bench-retrieval-growth a retrieval cell's steps at 10^4..10^6 items: time, memory, growth
    nox -s tensorflow     the tensorflow extra (~270 MB wheel) and the KERAS_BACKEND=tensorflow top-tuning test
    nox -s containers     images + cells in a container against the Milvus server sidecar, on a real Docker engine
    nox -s docs           the documentation site (MkDocs): a strict build into site/ (a broken link fails it)

Arguments after ``--`` are forwarded (e.g. ``nox -s tests -- -k metrics``).
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests"]
# Keep each session's environment between runs; install() re-syncs it only when the lock or its arguments
# change, so a second main job with nothing to compute takes seconds (``nox --reuse-venv=no`` starts clean).
nox.options.reuse_venv = "yes"


def sync(session: nox.Session, *args: str) -> None:
    """``uv sync --frozen ARGS`` into the session's environment, skipped when uv.lock, pyproject.toml and
    ARGS are those of the last sync there (a stamp file in the environment records their digest)."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256(" ".join(args).encode())
    for name in ("uv.lock", "pyproject.toml"):
        digest.update(Path(name).read_bytes())
    stamp = Path(session.virtualenv.location) / ".ecombench-synced"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        session.log("environment up to date with uv.lock: no sync")
        return
    session.run_install(
        "uv", "sync", "--frozen", *args, "--compile-bytecode",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )  # fmt: skip
    stamp.write_text(digest.hexdigest())


def install(session: nox.Session) -> None:
    """Install the locked dependencies (the dev group, the ``ray`` extra the Ray executor's tests need, and the
    ``milvus-server`` extra: the real Milvus server tests/compute/test_milvus_server.py runs) into the session's
    environment.

    Bytecode is compiled at install time: imports of torch/timm are several times faster when the
    environment forbids writing .pyc files at run time (PYTHONDONTWRITEBYTECODE).
    """
    sync(session, "--group", "dev", "--extra", "ray", "--extra", "milvus-server")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite."""
    install(session)
    session.run("pytest", *session.posargs, env={"KERAS_BACKEND": "torch"})


@nox.session
def lint(session: nox.Session) -> None:
    """Lint and type-check."""
    install(session)
    session.run("ruff", "check", "harness", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "harness", "tests", "benchmarks", "noxfile.py")
    session.run("mypy", "harness")
    session.run("lint-imports")  # the layer contracts in pyproject.toml: imports go down only


@nox.session(name="bench-smoke")
def bench_smoke(session: nox.Session) -> None:
    """The main job on embedded defaults: suites/smoke.toml on the CPU with Milvus Lite, then the report."""
    install(session)
    session.run("ecombench", "grid", "suites/smoke.toml", *session.posargs)
    session.run("ecombench", "report")


@nox.session(name="bench-full")
def bench_full(session: nox.Session) -> None:
    """The paper's study as one resumable command (`ecombench bench-full`); arguments after ``--`` are its own:
    a suite file (default suites/paper.toml), --dry-run, --data-root DIR, --jobs N, --container, --device."""
    install(session)
    session.run("ecombench", "bench-full", *session.posargs)


@nox.session(name="bench-pipeline")
def bench_pipeline(session: nox.Session) -> None:
    """Pipeline efficiency: harness pipeline img/s over raw forward img/s (same model, batch, precision), and
    where the time goes (decode, preprocess, forward). Options after ``--``: see benchmarks/pipeline_efficiency.py."""
    install(session)
    session.run("python", "benchmarks/pipeline_efficiency.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The pytest-benchmark benchmarks (benchmarks/test_benchmarks.py): pipeline vs raw forward, Milvus vs
    exact search, fine-tuning loop vs training step, each printing its in-run ratio; the JSON is saved under
    .benchmarks/. Compare with a saved run: ``nox -s bench -- --benchmark-compare`` (latest) or
    ``--benchmark-compare=0001``. Not part of ``nox -s tests``."""
    install(session)
    session.run(
        "pytest", "benchmarks/test_benchmarks.py", "-p", "no:cacheprovider", "-s", "--benchmark-autosave",
        "--benchmark-storage=.benchmarks", *session.posargs, env={"KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1"},
    )  # fmt: skip


@nox.session(name="bench-retrieval")
def bench_retrieval(session: nox.Session) -> None:
    """The exact backend against faiss IndexFlatL2 at 60,000 x 768 and 60,000 x 128, each alone in a fresh process
    (benchmarks/retrieval_backends.py), then every retrieval backend on the same vectors, one table from one run:
    faiss, the exact backend, Milvus Lite and the real Milvus server (FLAT, HNSW, IVF_SQ8). Options after ``--``:
    the table's, see benchmarks/retrieval_table.py (e.g. ``-- --n 60000 --dim 768``, SOP's shape)."""
    install(session)
    session.run("python", "benchmarks/retrieval_backends.py")
    session.run("python", "benchmarks/retrieval_table.py", *session.posargs, env={"GRPC_VERBOSITY": "ERROR"})


@nox.session(name="bench-retrieval-growth")
def bench_retrieval_growth(session: nox.Session) -> None:
    """A retrieval cell's path step by step as the catalogue grows (time, memory, database size, fitted growth);
    options after ``--``: see benchmarks/retrieval_growth.py (e.g. ``-- --sizes 10000 100000 1000000``)."""
    install(session)
    session.run("python", "benchmarks/retrieval_growth.py", *session.posargs)


@nox.session
def tensorflow(session: nox.Session) -> None:
    """Top-tuning on KERAS_BACKEND=tensorflow: the locked environment plus the ``tensorflow`` extra, then the
    test that compares it with the torch default (tests/compute/test_toptune_tensorflow.py, ~2.5 min on 2 CPUs)."""
    sync(session, "--group", "dev", "--extra", "tensorflow")
    session.run("pytest", "tests/compute/test_toptune_tensorflow.py", *session.posargs, env={"OMP_NUM_THREADS": "1"})


@nox.session
def containers(session: nox.Session) -> None:
    """The container path on a real Docker engine (CI; root on Debian, no registry): install and start the
    engine if needed, debootstrap a local Debian base image, build the base, timm, milvus (the real server)
    and milvus-lite images (BuildKit; the CA bundle as a build secret), run a retrieval cell in the timm
    container against the server sidecar (metrics equal to the exact backend's) and against the lite one,
    ingest its shard and check the rows and image ids (tests marked ``docker``). Containers, networks
    and volumes are removed by the harness, also on failure; dangling images of earlier builds are pruned."""
    install(session)
    session.run("containers/engine.sh", external=True)
    base = "ecombench/debian-base:bookworm"
    session.run("containers/make-base-image.sh", base, external=True)
    env = {"KERAS_BACKEND": "torch", "ECOMBENCH_BASE_IMAGE": base, "ECOMBENCH_REQUIRE_DOCKER": "1"}
    try:
        session.run("pytest", "-m", "docker", "tests/execute/test_containers.py", *session.posargs, env=env)
    finally:
        label = "label=org.opencontainers.image.source=ecombench"
        session.run("docker", "image", "prune", "--force", "--filter", label, external=True)
        session.run("containers/engine-stop.sh", external=True)  # only a dockerd engine.sh started


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site: ``mkdocs build --strict`` into site/ (git-ignored), so a broken link or anchor, or
    a page left out of mkdocs.yml's nav, fails. The project is installed too: the CLI reference page is rendered
    from the commands themselves at build time (docs/hooks/cli_reference.py)."""
    sync(session, "--group", "docs")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})
