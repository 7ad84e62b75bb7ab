"""Every Go program a kind cluster needs, at the versions pinned in versions.toml."""

from images import argocd_refs
from images.gobuild import GoProgram
from images.pins import pins


def _go() -> str:
    return pins()["go"]["default"]


def kind() -> GoProgram:
    version = pins()["kind"]["version"]
    return GoProgram("kind", "sigs.k8s.io/kind", version, ("sigs.k8s.io/kind",), _go())


KUBERNETES_COMMANDS = (
    "kubelet",
    "kubeadm",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)


def kubernetes(commands: tuple[str, ...] = KUBERNETES_COMMANDS) -> GoProgram:
    """Kubernetes' programs from k8s.io/kubernetes: all a node image needs by default."""
    k8s = pins()["kubernetes"]
    version = k8s["version"]
    major, minor = version.lstrip("v").split(".")[:2]
    # What `make` stamps into the binaries; kubeadm reads it to pick image tags.
    stamp = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
    }
    ldflags = " ".join(
        f"-X {pkg}.{key}={value}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, value in stamp.items()
    )
    return GoProgram(
        "kubernetes" if commands == KUBERNETES_COMMANDS else "-".join(commands),
        "k8s.io/kubernetes",
        version,
        tuple(f"k8s.io/kubernetes/cmd/{c}" for c in commands),
        _go(),
        ldflags=f"-s -w {ldflags}",
        # The staging repos are published as k8s.io/<name> v0.<minor>.<patch>.
        local_version=k8s["staging_version"],
    )


def kubectl() -> GoProgram:
    """kubectl alone: a few minutes to build, against most of an hour for all of them."""
    return kubernetes(("kubectl",))


def etcd() -> GoProgram:
    version = pins()["kubernetes"]["etcd"]
    return GoProgram(
        "etcd",
        "go.etcd.io/etcd/server/v3",
        version,
        ("go.etcd.io/etcd/server/v3",),
        _go(),
        local_version=version,
    )


def coredns() -> GoProgram:
    version = pins()["kubernetes"]["coredns"]
    return GoProgram(
        "coredns",
        "github.com/coredns/coredns",
        version,
        ("github.com/coredns/coredns",),
        _go(),
    )


def containerd() -> GoProgram:
    version = pins()["node"]["containerd"]
    module = "github.com/containerd/containerd/v2"
    return GoProgram(
        "containerd",
        module,
        version,
        tuple(f"{module}/cmd/{c}" for c in ("containerd", "ctr", "containerd-shim-runc-v2")),
        _go(),
        ldflags=f"-s -w -X {module}/version.Version={version}",
        tags=("no_aufs", "no_zfs", "no_btrfs", "no_devmapper"),
    )


def runc() -> GoProgram:
    version = pins()["node"]["runc"]
    return GoProgram(
        "runc",
        "github.com/opencontainers/runc",
        version,
        ("github.com/opencontainers/runc",),
        _go(),
        ldflags=f"-s -w -X main.version={version.lstrip('v')}",
        cgo=True,  # runc's nsenter is C; seccomp needs Debian's libseccomp
        tags=("seccomp", "urfave_cli_no_docs"),
    )


def crictl() -> GoProgram:
    version = pins()["node"]["crictl"]
    return GoProgram(
        "crictl",
        "sigs.k8s.io/cri-tools",
        version,
        ("sigs.k8s.io/cri-tools/cmd/crictl",),
        _go(),
        ldflags=f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version={version}",
    )


def cni_plugins() -> GoProgram:
    version = pins()["node"]["cni_plugins"]
    module = "github.com/containernetworking/plugins"
    plugins = ("ipam/host-local", "main/loopback", "main/ptp", "meta/portmap")
    return GoProgram(
        "cni-plugins",
        module,
        version,
        tuple(f"{module}/plugins/{p}" for p in plugins),
        _go(),
    )


def local_path_provisioner() -> GoProgram:
    version = pins()["node"]["local_path_provisioner"]
    module = "github.com/rancher/local-path-provisioner"
    return GoProgram(
        "local-path-provisioner",
        module,
        version,
        (module,),
        _go(),
        ldflags=f"-s -w -X main.VERSION={version}",
    )


def stamped(package: str, variables: dict[str, str]) -> str:
    """Stripped, with each of `variables` set in `package` (-X), as release builds stamp."""
    return "-s -w " + " ".join(f"-X {package}.{k}={v}" for k, v in variables.items())


def argocd(version: str) -> GoProgram:
    """Argo CD's multi-call binary (./cmd); the component is chosen by the binary's name."""
    release = argocd_refs.release(version)
    module = argocd_refs.MODULE
    source = release.gitops_engine_source
    published = {} if source else {release.gitops_engine_module: release.gitops_engine_version}
    stamp = {
        "version": version,
        "gitTag": version,
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "gitCommit": "unknown",
    }
    return GoProgram(
        "argocd",
        module,
        version,
        (f"{module}/cmd",),
        release.go,
        ldflags=stamped(f"{module}/common", stamp),
        # gitops-engine is a nested module the argo-cd zip leaves out; since v3.6 it is
        # tagged gitops-engine/vX.Y.Z with each release, before that its source is given.
        local_replaces=published,
        extra_requires=published,
        local_sources=(source,) if source else (),
    )


def registry() -> GoProgram:
    """The CNCF distribution registry, for the public path's rehearsal."""
    version = pins()["rehearsal"]["registry"]
    module = "github.com/distribution/distribution/v3"
    return GoProgram(
        "registry",
        module,
        version,
        (f"{module}/cmd/registry",),
        _go(),
        ldflags=f"-s -w -X {module}/version.version={version}",
    )


def kustomize(version: str, go: str) -> GoProgram:
    module = "sigs.k8s.io/kustomize/kustomize/v5"
    return GoProgram(
        "kustomize",
        module,
        version,
        (module,),
        go,
        ldflags=f"-s -w -X sigs.k8s.io/kustomize/api/provenance.version={version}",
    )


def actionlint(version: str, go: str) -> GoProgram:
    module = "github.com/rhysd/actionlint"
    return GoProgram(
        "actionlint",
        module,
        version,
        (f"{module}/cmd/actionlint",),
        go,
        # As its release build stamps it (no "v"); `actionlint -version` prints it.
        ldflags=f"-s -w -X {module}.version={version.lstrip('v')}",
    )


def helm(version: str, go: str) -> GoProgram:
    """Helm's CLI (cmd/helm) from its Go module: helm.sh/helm/v4 for Helm 4 (Argo CD 3.5
    on), helm.sh/helm/v3 for Helm 3. Stamped as its Makefile stamps a tag's build (v4.3.1's
    Makefile, lines 45-57: the version into internal/version, no "+unreleased" metadata;
    the git commit is unknown here), so `helm version` names it."""
    module = f"helm.sh/helm/v{version.lstrip('v').split('.')[0]}"
    stamp = {"version": version, "gitTreeState": "clean"}
    return GoProgram(
        "helm",
        module,
        version,
        (f"{module}/cmd/helm",),
        go,
        ldflags=stamped(f"{module}/internal/version", stamp),
    )
