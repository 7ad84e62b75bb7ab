"""What a new user's first run meets, checked without a cluster: the public path's image
names and mirrors, checked downloads, what is out of reach, the host's limits, and what a
build costs when a node image is given."""

import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import yaml

from e2e import cli, nested
from e2e import cluster as clusters
from harness.plugin import Options
from images import argocd, debian, engine, hosttools, programs, public, session, workloads
from images.errors import BuildError
from images.pins import pins
from images.public import Checksum, ImageName


@pytest.mark.parametrize(
    ("image", "registry", "repository", "tag", "digest"),
    [
        ("postgres:15-bookworm", "docker.io", "library/postgres", "15-bookworm", ""),
        ("kindest/node:v1.37.0@sha256:a1ed", "docker.io", "kindest/node", "v1.37.0", "sha256:a1ed"),
        ("quay.io/argoproj/argocd:v3.6.1", "quay.io", "argoproj/argocd", "v3.6.1", ""),
        (
            "public.ecr.aws/docker/library/redis:8.10.1-alpine",
            "public.ecr.aws",
            "docker/library/redis",
            "8.10.1-alpine",
            "",
        ),
        ("localhost:5001/app", "localhost:5001", "app", "latest", ""),
    ],
)
def test_image_names_are_read_as_docker_reads_them(
    image: str, registry: str, repository: str, tag: str, digest: str
) -> None:
    assert ImageName.parse(image) == ImageName(registry, repository, tag, digest)


def test_a_mirror_holds_each_registrys_images_under_its_name() -> None:
    mirror = "http://localhost:5001"
    assert ImageName.parse("postgres:15-bookworm").on(mirror) == (
        "localhost:5001/docker.io/library/postgres:15-bookworm"
    )
    assert ImageName.parse("quay.io/argoproj/argocd:v3.6.1").on("https://harbor.example/proxy") == (
        "harbor.example/proxy/quay.io/argoproj/argocd:v3.6.1"
    )
    node = pins()["kind"]["public_node_images"]["1.37"]
    assert (
        ImageName.parse(node).on(mirror).startswith("localhost:5001/docker.io/kindest/node:v1.37")
    )
    assert ImageName.parse(node).on(mirror).endswith(node.partition("@")[2])


def test_a_download_goes_through_the_mirror_under_its_host_and_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(public.DOWNLOAD_MIRROR_ENV, "http://127.0.0.1:8081/")
    assert public.through_mirror("https://dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubectl") == (
        "http://127.0.0.1:8081/dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubectl"
    )


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real HTTP server as the download mirror, and an empty cache."""
    root = tmp_path / "mirror"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(public.DOWNLOAD_MIRROR_ENV, f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("ARGOCD_MIGRATION_E2E_CACHE", str(tmp_path / "cache"))
    yield root / "example.org"
    server.shutdown()
    server.server_close()


def test_a_download_is_kept_only_when_its_published_checksum_matches(served: Path) -> None:
    served.mkdir()
    (served / "kind-linux-amd64").write_bytes(b"the real kind")
    good = hashlib.sha256(b"the real kind").hexdigest()
    (served / "kind-linux-amd64.sha256sum").write_text(f"{good}  kind-linux-amd64\n")
    (served / "tampered").write_bytes(b"something else")
    (served / "tampered.sha256").write_text(good)

    kept = public.download(
        "https://example.org/kind-linux-amd64",
        "kind-v0",
        Checksum(url="https://example.org/kind-linux-amd64.sha256sum", name="kind-linux-amd64"),
    )
    assert kept.read_bytes() == b"the real kind"
    assert [p.name for p in kept.parent.iterdir()] == ["kind-v0"], "a partial file is left"

    with pytest.raises(BuildError, match="does not match"):
        public.download(
            "https://example.org/tampered",
            "tampered",
            Checksum(url="https://example.org/tampered.sha256"),
        )
    assert not (kept.parent / "tampered").exists()


def test_a_missing_download_fails_in_one_line(served: Path) -> None:
    with pytest.raises(BuildError, match=r"/example.org/nothing-here: HTTP 404"):
        public.download("https://example.org/nothing-here", "x", Checksum(sha256="0" * 64))


def test_two_patch_versions_never_share_a_partial_file(
    served: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Path("kubectl-v1.37.2").with_suffix(".partial") is kubectl-v1.37.partial: two
    patch versions downloading at once wrote the same file."""
    served.mkdir()
    renamed: list[tuple[str, str]] = []
    rename = Path.rename

    def recorded(self: Path, target: Path) -> Path:
        renamed.append((self.name, Path(target).name))
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", recorded)
    for version in ("v1.37.2", "v1.37.3"):
        (served / version).write_bytes(version.encode())
        digest = hashlib.sha256(version.encode()).hexdigest()
        public.download(f"https://example.org/{version}", f"kubectl-{version}", Checksum(digest))
    partials = [partial for partial, _ in renamed]
    assert len(set(partials)) == 2, renamed
    assert all(partial.startswith(f"{target}.") for partial, target in renamed), renamed


def test_the_public_path_names_each_host_it_cannot_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine reaches none of them; a mirror on loopback that answers is enough."""
    monkeypatch.delenv(public.REGISTRY_MIRROR_ENV, raising=False)
    monkeypatch.delenv(public.DOWNLOAD_MIRROR_ENV, raising=False)
    needed = {host for host, _ in public.needed_endpoints()}
    assert {
        "registry-1.docker.io",
        "quay.io",
        "public.ecr.aws",
        "github.com",
        "dl.k8s.io",
    } <= needed

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler) as s:
        mirror = f"http://127.0.0.1:{s.server_address[1]}"
        monkeypatch.setenv(public.REGISTRY_MIRROR_ENV, mirror)
        monkeypatch.setenv(public.DOWNLOAD_MIRROR_ENV, mirror)
        assert public.needed_endpoints() == [("127.0.0.1", s.server_address[1])]
        assert public.unreachable() == []
    assert public.unreachable() == [f"127.0.0.1:{s.server_address[1]} (Connection refused)"]


def test_the_public_git_server_needs_no_debootstrap(
    image_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built on the public Debian image, pulled: no root, no debootstrap (laptops, hosted
    runners without sudo). Where no registry answers, the source path's Debian base stands
    in for the pull."""
    public_debian = pins()["workloads"]["debian_public"]
    here = debian.base_image() if image_path == "source" else public.pull(public_debian)

    def no_debootstrap() -> str:
        raise AssertionError("the public path made the debootstrap base")

    pulled: list[str] = []
    monkeypatch.setattr(debian, "base_image", no_debootstrap)
    monkeypatch.setattr(public, "pull", lambda image: pulled.append(image) or here)
    image = workloads.git_server("public")
    assert pulled == [public_debian]
    assert engine.client().images.get(image).attrs["Config"]["Cmd"] == ["start-git-server"]


def test_an_unpinned_argocd_manifest_is_fetched_again_for_each_session(
    served: Path,
) -> None:
    """A branch moves: master's manifest cached under its name would stay last week's."""
    manifest = served.parent / "raw.githubusercontent.com/argoproj/argo-cd/master/manifests"
    manifest.mkdir(parents=True)
    (manifest / "core-install.yaml").write_text("first: commit\n")
    assert argocd.public_manifest("master").read_text() == "first: commit\n"
    (manifest / "core-install.yaml").write_text("next: commit\n")
    assert argocd.public_manifest("master").read_text() == "next: commit\n"


def test_the_public_argocd_cli_is_the_releases_checked_against_its_checksums(
    served: Path,
) -> None:
    """The scenarios drive Argo CD with its CLI: on the public path the release's own,
    as cli_checksums.txt lists it, made runnable."""
    name = f"argocd-linux-{public.architecture()}"
    release = served.parent / "github.com/argoproj/argo-cd/releases/download"
    for version, listed in (("v9.9.9", b"the real cli"), ("v9.9.8", b"another cli")):
        (release / version).mkdir(parents=True)
        (release / version / name).write_bytes(b"the real cli")
        digest = hashlib.sha256(listed).hexdigest()
        (release / version / "cli_checksums.txt").write_text(f"{digest}  {name}\n")

    cli = argocd.cli("v9.9.9", "public")
    assert cli.read_bytes() == b"the real cli" and os.access(cli, os.X_OK)
    with pytest.raises(BuildError, match="does not match"):
        argocd.cli("v9.9.8", "public")


def test_the_cli_finds_argo_cd_in_the_namespace_of_its_kubeconfigs_context(
    tmp_path: Path,
) -> None:
    """Core mode reads Argo CD's namespace from the kubeconfig's current context."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "current-context": "kind-x",
                "contexts": [
                    {"name": "kind-x", "context": {"cluster": "kind-x", "user": "kind-x"}},
                    {"name": "other", "context": {"cluster": "other", "user": "other"}},
                ],
            }
        )
    )
    config = yaml.safe_load(cli.core_mode_kubeconfig(kubeconfig, tmp_path / "core").read_text())
    assert [c["context"].get("namespace") for c in config["contexts"]] == ["argocd", None]


def test_each_kubernetes_minor_has_one_node_image_pinned_by_digest() -> None:
    images = pins()["kind"]["public_node_images"]
    for minor, image in images.items():
        assert image.startswith(f"kindest/node:v{minor}."), image
        assert "@sha256:" in image and len(image.partition("@sha256:")[2]) == 64, image
    assert workloads.node_public() == images[pins()["kind"]["public_kubernetes"]]


def test_a_nested_session_is_handed_the_outer_sessions_node_image_and_argo_cd() -> None:
    outer = Options(argocd_version="master", kind_image="kindest/node:v1.36.4")
    assert nested.passed_on(outer, "source") == [
        "--images=source",
        "--argocd-version=master",
        "--kind-image=kindest/node:v1.36.4",
    ]


def test_the_architecture_is_the_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    for machine, arch in (("x86_64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64")):
        monkeypatch.setattr("platform.machine", lambda machine=machine: machine)
        assert public.architecture() == arch
    monkeypatch.setattr("platform.machine", lambda: "riscv64")
    with pytest.raises(BuildError, match="riscv64 is not supported"):
        public.architecture()


def test_a_given_node_image_costs_kubectl_alone_not_all_of_kubernetes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --kind-image the source path builds no node image: kubectl is built alone
    (minutes) unless the whole Kubernetes build is there already (then it is reused)."""
    plan = [
        target.name for target in session.targets("source", "v3.6.1", "v3.5.1", "kindest/node:v1")
    ]
    assert not any(name.startswith("kind node image") for name in plan), plan
    assert not any(name.startswith("node image with") for name in plan), plan

    monkeypatch.setenv("ARGOCD_MIGRATION_E2E_CACHE", str(tmp_path))  # nothing built
    assert hosttools.kubectl_program().packages == ("k8s.io/kubernetes/cmd/kubectl",)
    whole = programs.kubernetes()
    complete = tmp_path / "go" / "out" / whole.key / ".complete"
    complete.parent.mkdir(parents=True)
    complete.write_text(whole.key)
    assert hosttools.kubectl_program() == whole


def test_low_inotify_limits_are_named_with_what_to_raise(tmp_path: Path) -> None:
    """kind's "too many open files", said before a cluster starts, with the fix."""
    (tmp_path / "max_user_instances").write_text("128\n")
    (tmp_path / "max_user_watches").write_text("524288\n")
    assert clusters.inotify_shortfall(tmp_path) == (
        "fs.inotify.max_user_instances is 128, below what kind recommends: if pods fail with "
        "'too many open files', raise it (sudo sysctl fs.inotify.max_user_instances=512)"
    )
    (tmp_path / "max_user_instances").write_text("512\n")
    assert clusters.inotify_shortfall(tmp_path) is None
    assert clusters.inotify_shortfall(tmp_path / "not-linux") is None


def test_the_cli_is_run_again_only_when_core_mode_lost_its_port_before_doing_anything() -> None:
    lost = "failed to listen: listen tcp 127.0.0.1:40087: bind: address already in use"
    refused = '{"level":"fatal","msg":"rollback cannot be initiated when auto-sync is enabled"}'
    assert cli._lost_its_port(cli.Result(("app", "get"), 20, "", lost, 1.0))
    assert not cli._lost_its_port(cli.Result(("app", "rollback"), 20, "", refused, 1.0))
    assert not cli._lost_its_port(cli.Result(("app", "get"), 0, "", "", 1.0))
