"""kind's node image, assembled the way `kind build node-image` does, from local builds.

`kind build node-image` fetches every image it did not build itself, which fails with
no registry. This module builds each image the node needs under the exact name kubeadm
and kind's manifests ask for, imports them into the node's containerd, and commits.
"""

import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from images import engine, gobuild, programs, progress, workloads
from images.cache import IMAGE_PREFIX, cache_dir
from images.dockerfiles import DOCKERFILES, dockerfile_image
from images.errors import BuildError
from images.pins import pins

NODE_ENTRYPOINT = 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]'


def kind_source() -> Path:
    """The kind module's files (its base image files and default manifests)."""
    version = pins()["kind"]["version"]
    root = cache_dir("src") / f"kind-{version}"
    if (root / "go.mod").exists():
        return root
    with progress.step(f"download kind {version}'s source from the Go module proxy"):
        archive = gobuild.fetch_from_proxy(f"sigs.k8s.io/kind/@v/{version}.zip")
    staging = root.with_suffix(".partial")
    shutil.rmtree(staging, ignore_errors=True)
    prefix = f"sigs.k8s.io/kind@{version}/"
    with tempfile.TemporaryFile() as tmp:
        tmp.write(archive)
        with zipfile.ZipFile(tmp) as zf:
            for info in zf.infolist():
                if info.filename.startswith(prefix) and not info.is_dir():
                    target = staging / info.filename[len(prefix) :]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zf.read(info))
    staging.rename(root)
    return root


def default_storage_manifest() -> str:
    """kind's local-path-provisioner manifest, cut out of its Go source with images filled in."""
    source = (kind_source() / "pkg/build/nodeimage/const_storage.go").read_text()
    consts = dict(re.findall(r'^const (\w+) = "([^"]+)"', source, re.M))
    body = re.search(r"const defaultStorageManifest = `(.*?)`\s*$", source, re.S)
    if not body:
        raise BuildError("kind node image", "defaultStorageManifest not found in kind's source")
    return re.sub(r"` \+ (\w+) \+ `", lambda m: consts[m.group(1)], body.group(1))


def kind_binary() -> Path:
    return gobuild.build(programs.kind()) / "kind"


def _static(tag: str, binary: Path, version: str) -> str:
    return dockerfile_image("static", version, files={f"bin/{binary.name}": binary}, tag=tag)


def component_images() -> list[str]:
    """Every image the node's containerd must hold, by the exact name it is asked for."""
    k8s, node = pins()["kubernetes"], pins()["node"]
    version = k8s["version"]
    kube = gobuild.build(programs.kubernetes())
    images = [
        _static(f"registry.k8s.io/{name}:{version}", kube / name, version)
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ]
    images.append(
        dockerfile_image(
            "kube-proxy",
            version,
            files={"bin/kube-proxy": kube / "kube-proxy"},
            tag=f"registry.k8s.io/kube-proxy:{version}",
        )
    )
    etcd = gobuild.build(programs.etcd())
    images.append(
        dockerfile_image(
            "static",
            k8s["etcd_image_tag"],
            files={"bin/etcd": etcd / "server"},
            tag=f"registry.k8s.io/etcd:{k8s['etcd_image_tag']}",
        )
    )
    coredns = gobuild.build(programs.coredns())
    images.append(
        dockerfile_image(
            "coredns",
            k8s["coredns"],
            files={"bin/coredns": coredns / "coredns"},
            tag=f"registry.k8s.io/coredns/coredns:{k8s['coredns']}",
        )
    )
    pause_tags = [f"registry.k8s.io/pause:{t}" for t in k8s["pause_image_tags"]]
    images.append(
        dockerfile_image(
            "pause",
            k8s["pause_image_tags"][-1],
            files={"bin/pause": pause_binary()},
            tag=pause_tags[0],
            extra_tags=tuple(pause_tags[1:]),
        )
    )
    images += pause_tags[1:]
    provisioner = gobuild.build(programs.local_path_provisioner())
    images.append(
        dockerfile_image(
            "static",
            node["local_path_provisioner"],
            files={"bin/local-path-provisioner": provisioner / "local-path-provisioner"},
            tag=node["local_path_provisioner_image"],
        )
    )
    images.append(
        dockerfile_image("local-path-helper", "bookworm", tag=node["local_path_helper_image"])
    )
    return images


def pause_binary() -> Path:
    """pause.c from the Kubernetes module, compiled statically with Debian's gcc."""
    k8s = pins()["kubernetes"]
    out = cache_dir("go", "out") / f"pause-{k8s['version']}"
    if (out / "pause").exists():
        return out / "pause"
    kube_src = gobuild.module_dir("k8s.io/kubernetes", k8s["version"])
    out.mkdir(parents=True, exist_ok=True)
    engine.run(
        workloads.builder(),
        [
            "gcc",
            "-Os",
            "-Wall",
            "-Werror",
            "-static",
            f"-DVERSION=v{k8s['pause_image_tags'][-1]}",
            "-o",
            "/out/pause",
            "/src/pause.c",
        ],
        step="build pause",
        volumes={
            str(kube_src / "build/pause/linux"): {"bind": "/src", "mode": "ro"},
            str(out): {"bind": "/out", "mode": "rw"},
        },
    )
    return out / "pause"


def kind_base() -> str:
    """kind's base image: systemd, containerd, runc, CNI plugins, kind's entrypoint."""
    files: dict[str, Path] = {}
    for program, names in (
        (programs.containerd(), ("containerd", "ctr", "containerd-shim-runc-v2")),
        (programs.runc(), ("runc",)),
        (programs.crictl(), ("crictl",)),
    ):
        built = gobuild.build(program)
        files.update({f"bin/{n}": built / n for n in names})
    cni = gobuild.build(programs.cni_plugins())
    files.update({f"cni/{p.name}": p for p in cni.iterdir() if not p.name.startswith(".")})
    base_files = kind_source() / "images/base/files"
    files.update(
        {f"files/{p.relative_to(base_files)}": p for p in base_files.rglob("*") if p.is_file()}
    )
    return dockerfile_image("kind-base", pins()["kind"]["version"], files=files)


def node_image() -> str:
    """The kind node image for the pinned Kubernetes, with every image preloaded."""
    version = pins()["kubernetes"]["version"]
    tag = f"{IMAGE_PREFIX}/kind-node:{version}"
    images = component_images()
    kube = gobuild.build(programs.kubernetes())
    with tempfile.TemporaryDirectory(dir=cache_dir("tmp")) as tmp:
        generated = Path(tmp)
        (generated / "version").write_text(version)
        (generated / "default-storage.yaml").write_text(default_storage_manifest())
        prep = dockerfile_image(
            "kind-node",
            version,
            tag=f"{IMAGE_PREFIX}/kind-node-prep:{version}",  # the node before its images
            buildargs={"BASE": kind_base()},
            files={
                **{f"bin/{n}": kube / n for n in ("kubeadm", "kubelet", "kubectl")},
                "kind/version": generated / "version",
                "kind/manifests/default-storage.yaml": generated / "default-storage.yaml",
            },
        )
    recipe = engine.recipe_digest(
        "kind-node",
        engine.client().images.get(prep).id,
        [engine.client().images.get(i).id for i in images],
    )
    if engine.is_current(tag, recipe):
        return tag
    _import_and_commit(prep, images, tag, recipe)
    return tag


def with_images(node: str, images: list[str]) -> str:
    """A node image that starts with `images` in its containerd, as kind's own node
    images start with Kubernetes': a cluster made from it needs no `kind load` (kind
    skips images the node has), so the suite's images are loaded once per change of any
    of them rather than into every new cluster."""
    tag = f"{IMAGE_PREFIX}/kind-node-preloaded:{node.rpartition(':')[2]}"
    ids = [engine.client().images.get(i).id for i in (node, *images)]
    recipe = engine.recipe_digest("kind-node-preloaded", ids, sorted(images))
    if not engine.is_current(tag, recipe):
        _import_and_commit(node, images, tag, recipe)
    return tag


def _import_and_commit(prep: str, images: list[str], tag: str, recipe: str) -> None:
    log = cache_dir("logs") / "kind node image import.log"
    with progress.step(f"{tag}: {len(images)} images into its containerd", log):
        _import_into(prep, images, tag, recipe, log)


def _import_into(prep: str, images: list[str], tag: str, recipe: str, log: Path) -> None:
    tarballs = cache_dir("tmp", "node-images")
    for old in tarballs.glob("*.tar"):
        old.unlink()
    engine.save(tarballs / "images.tar", *images)
    # containerd runs only for the import, as `kind build node-image` does.
    script = (
        "set -e; containerd >/var/log/containerd-import.log 2>&1 & "
        "for i in $(seq 1 100); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done; "
        "for t in /images/*.tar; do "
        "ctr --namespace=k8s.io images import --all-platforms --no-unpack --digests "
        '--snapshotter=overlayfs "$t"; done; '
        "ctr --namespace=k8s.io images list -q; kill %1; wait"
    )
    container = engine.client().containers.run(
        prep,
        entrypoint=["sleep", "infinity"],
        privileged=True,
        detach=True,
        volumes={str(tarballs): {"bind": "/images", "mode": "ro"}},
    )
    try:
        result = container.exec_run(["bash", "-c", script])
        log.write_bytes(result.output)
        if result.exit_code != 0:
            raise BuildError("kind node image: import images", f"exit {result.exit_code}", log)
        repository, _, version = tag.rpartition(":")
        replaced = engine.previous_id(tag)
        container.commit(
            repository,
            version,
            changes=[NODE_ENTRYPOINT, f"LABEL {engine.RECIPE_LABEL}={recipe}"],
        )
        engine.drop_if_dangling(replaced)
    finally:
        container.remove(force=True, v=True)  # and its anonymous volumes, or they pile up
        for old in tarballs.glob("*.tar"):
            old.unlink()


__all__ = ["DOCKERFILES", "kind_binary", "node_image", "with_images"]
