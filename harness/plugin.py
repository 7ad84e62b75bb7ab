"""Options shared by the fast tests (tests/) and the end-to-end suite (e2e/).

Each option is a CLI flag and an ini key of the same name; the CLI wins, then the
ini file, then the default (pytest-postgresql's pattern), merged once into `Options`.
"""

import os
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import TextIO

import pytest

from images import argocd as argocd_images
from images import argocd_refs, progress, public, upstream
from images.errors import BuildError
from images.registry import resolve_image_path


@dataclass(frozen=True)
class Options:
    # Ours: a CLI flag and an ini key each.
    images: str = "auto"
    argocd_version: str = ""
    upgrade_from: str = ""
    artifacts_dir: str = "artifacts"
    registry_mirror: str = ""
    download_mirror: str = ""
    gitops_engine_source: str = ""
    # pytest-kind-ng's own flags (CLI only), honoured by our cluster fixture:
    # --cluster-name, --keep-cluster (also: reuse the cluster if it exists),
    # --kubeconfig (run against that existing cluster instead of creating one),
    # --kind-image, --kind-bin, --kind-kubectl-bin (override what we build or download).
    cluster_name: str = "pytest-kind"
    keep_cluster: bool = False
    kubeconfig: str | None = None
    kind_image: str | None = None
    kind_bin: str | None = None
    kind_kubectl_bin: str | None = None


HELP = {
    "images": "where images come from: public (pull), source (build here from pinned "
    "sources), auto (public when a registry answers, else source)",
    "argocd_version": "Argo CD to install: a release pinned in versions.toml or, on the "
    "source path, any release, branch or commit the Go module proxy resolves "
    "(default: the one versions.toml names)",
    "upgrade_from": "the Argo CD release the upgrade test starts from, as --argocd-version "
    "takes it (default: the newest release pinned for the image path of the minor before "
    "the session's)",
    "artifacts_dir": "where diagnostics of failed scenarios and timings are written",
    "registry_mirror": "public path: pull images through this registry, which holds each "
    "upstream's under its name (URL/quay.io/argoproj/argocd:v3.6.1), as a Harbor or "
    "Artifactory pull-through cache or a local registry does",
    "download_mirror": "public path: fetch release files (kind, kubectl, kustomize, Argo CD's "
    "manifest) from this URL, under each file's host and path (URL/dl.k8s.io/release/...)",
    "gitops_engine_source": "source path, Argo CD before v3.6: its nested gitops-engine, "
    "which the Go module proxy does not serve: the folder from the release's tag, a tarball "
    "of it (git archive --prefix=gitops-engine/ TAG:gitops-engine), or a folder of tarballs "
    f"named argo-cd-TAG-gitops-engine.tar.gz; several separated by {os.pathsep!r}",
}
KIND_OPTIONS = (
    "cluster_name",
    "keep_cluster",
    "kubeconfig",
    "kind_image",
    "kind_bin",
    "kind_kubectl_bin",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("argocd-migration-e2e")
    for name, help_text in HELP.items():
        default = Options.__dataclass_fields__[name].default
        group.addoption(
            "--" + name.replace("_", "-"),
            dest=name,
            default=None,
            help=f"{help_text} [default: {default or 'see help'}]",
        )
        parser.addini(name, help_text, default=default)


def read_options(config: pytest.Config) -> Options:
    def value(name: str) -> object:
        cli = config.getoption(name)
        if name in KIND_OPTIONS:
            return cli if cli is not None else Options.__dataclass_fields__[name].default
        return cli if cli is not None else config.getini(name)

    options = Options(**{f.name: value(f.name) for f in fields(Options)})
    # for the processes that run elsewhere (tox, workers, nested sessions)
    options = replace(options, gitops_engine_source=upstream.absolute(options.gitops_engine_source))
    if options.images not in ("auto", "public", "source"):
        raise pytest.UsageError(f"--images must be auto, public or source, not {options.images!r}")
    # The image code reads the mirrors from the environment, which workers inherit.
    for env, mirror in (
        (public.REGISTRY_MIRROR_ENV, options.registry_mirror),
        (public.DOWNLOAD_MIRROR_ENV, options.download_mirror),
        (upstream.SOURCE_ENV, options.gitops_engine_source),
    ):
        if mirror:
            os.environ[env] = mirror
    try:
        path, _ = resolve_image_path(options.images)
    except BuildError as err:
        raise pytest.UsageError(f"{err.step} {err.reason}") from None
    for flag, version in (
        ("--argocd-version", options.argocd_version),
        ("--upgrade-from", options.upgrade_from),
    ):
        if version:
            check_argocd_version(version, path, flag)
    return options


def check_argocd_version(version: str, path: str, flag: str = "--argocd-version") -> None:
    """At once, not after the cluster is up: on the source path a version is either pinned
    or resolved through the Go module proxy; the public path installs the manifest at that
    tag or branch, which must exist."""
    try:
        if path == "source":
            argocd_refs.release(version)
        else:
            argocd_images.check_public_release(version)
    except BuildError as err:
        raise pytest.UsageError(f"{flag} {err.reason}") from None


OPTIONS_KEY = pytest.StashKey[Options]()
TERMINAL_KEY = pytest.StashKey[TextIO]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[OPTIONS_KEY] = read_options(config)
    terminal = _terminal()
    config.stash[TERMINAL_KEY] = terminal
    progress.use(_lines_to(terminal))
    # CI cancels with SIGTERM: make it a Ctrl-C, so fixtures tear down what they started
    # (the fast tests' Postgres container, the e2e suite's cluster).
    signal.signal(signal.SIGTERM, _interrupt)
    # A shell script that starts the suite with `&` hands it SIGINT ignored, and Python
    # keeps it so: a Ctrl-C (or CI's SIGINT) would then leave them running.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def options(pytestconfig: pytest.Config) -> Options:
    return pytestconfig.stash[OPTIONS_KEY]


@pytest.fixture(scope="session")
def image_path(options: Options) -> str:
    """`public` or `source`, decided once per session (with a notice when auto-detected)."""
    path, notice = resolve_image_path(options.images)
    if notice:
        print(f"\nnotice: {notice}")
    return path


def _terminal() -> TextIO:
    """The terminal (or CI's log) as it was before pytest captures anything: builds and
    setup run inside fixtures, whose output pytest captures, yet a user must see them."""
    try:
        return os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    except (AttributeError, OSError, ValueError):  # no real stdout (pytester, IDEs)
        return sys.stderr


def _lines_to(terminal: TextIO) -> Callable[[str], None]:
    def write(line: str) -> None:
        sys.stdout.flush()  # what pytest wrote before, first (a CI log buffers it)
        terminal.write(line + "\n")
        terminal.flush()

    return write


def status_line(terminal: TextIO) -> Callable[[str], None] | None:
    """A line rewritten in place on a terminal (None elsewhere: CI logs get heartbeats)."""
    if not terminal.isatty():
        return None

    def show(text: str) -> None:
        width = shutil.get_terminal_size().columns - 1
        terminal.write("\r\x1b[K" + text[:width])
        terminal.flush()

    return show


def progress_to_terminal(config: pytest.Config) -> Callable[[str], None]:
    """Where this process's progress lines go: its terminal."""
    return _lines_to(config.stash[TERMINAL_KEY])
