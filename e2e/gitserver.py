"""The in-cluster Git server Argo CD reads, and the pushes that make releases.

Argo CD's repo-server fetches from it over smart HTTP like from any remote; the suite
pushes one branch per scenario through a port-forward, so scenarios never move each
other's revisions.
"""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

from e2e.kube import Kube, deployment_available
from e2e.kubectl import Kubectl
from e2e.waits import wait_until

NAMESPACE = "git-server"
REPOSITORY = "manifests"
URL_IN_CLUSTER = f"http://git-server.{NAMESPACE}.svc.cluster.local/{REPOSITORY}.git"
AUTHOR = ["-c", "user.name=migration-e2e", "-c", "user.email=e2e@example.invalid"]
DEFAULT_BRANCH = "main"  # what the repository's HEAD names (start.sh: git init --initial-branch)


def deploy(kube: Kube, image: str, image_id: str, timeout: float = 120) -> None:
    """The server's Deployment and Service (idempotent: a kept cluster already has them;
    the image's ID in the pod template rolls it when the image was rebuilt, same tag)."""
    labels = {"app": "git-server"}
    if NAMESPACE not in {n.metadata.name for n in kube.core.list_namespace().items}:
        kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="git-server", labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(
                    labels=labels, annotations={"migration-e2e/image-id": image_id}
                ),
                spec=client.V1PodSpec(
                    containers=[
                        client.V1Container(
                            name="git",
                            image=image,
                            image_pull_policy="IfNotPresent",
                            env=[client.V1EnvVar(name="GIT_REPOS", value=REPOSITORY)],
                            ports=[client.V1ContainerPort(container_port=8080, name="http")],
                            readiness_probe=client.V1Probe(
                                http_get=client.V1HTTPGetAction(path="/healthz", port="http"),
                                period_seconds=1,
                            ),
                        )
                    ]
                ),
            ),
        ),
    )
    service = client.V1Service(
        metadata=client.V1ObjectMeta(name="git-server", labels=labels),
        spec=client.V1ServiceSpec(
            selector=labels, ports=[client.V1ServicePort(port=80, target_port="http")]
        ),
    )
    existing = {d.metadata.name for d in kube.apps.list_namespaced_deployment(NAMESPACE).items}
    if "git-server" in existing:
        kube.apps.replace_namespaced_deployment("git-server", NAMESPACE, deployment)
    else:
        kube.apps.create_namespaced_deployment(NAMESPACE, deployment)
        kube.core.create_namespaced_service(NAMESPACE, service)
    wait_until(
        lambda: deployment_available(kube, NAMESPACE, "git-server"),
        timeout,
        "the Git server to be available",
    )


def publish_default_branch(kubectl: Kubectl, worktree: Path) -> None:
    """A commit on the branch HEAD names. Argo CD checks that a repository answers before
    it accepts an Application change (`argocd app set` fails on a repository whose HEAD
    resolves to nothing: "unable to resolve 'HEAD' to a commit SHA"), as any real one does."""
    readme = worktree.parent / "default-branch-tree"
    readme.mkdir(parents=True, exist_ok=True)
    (readme / "README").write_text("Each scenario pushes its releases to a branch of its own.\n")
    Branch(kubectl, worktree, DEFAULT_BRANCH, force=True).commit(readme, "the default branch")


@dataclass
class Branch:
    """A local work tree whose commits are pushed to one branch of the server."""

    kubectl: Kubectl
    worktree: Path
    name: str
    force: bool = False  # replace what the server has (a kept cluster's default branch)

    def __post_init__(self) -> None:
        self.worktree.mkdir(parents=True, exist_ok=True)
        if not (self.worktree / ".git").exists():
            self._git("init", "--quiet", "--initial-branch", self.name)

    def commit(self, tree: Path, message: str) -> str:
        """Make the work tree exactly `tree`, commit it (even if unchanged), push; the sha."""
        for entry in self.worktree.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        shutil.copytree(tree, self.worktree, dirs_exist_ok=True)
        self._git("add", "--all")
        self._git(*AUTHOR, "commit", "--quiet", "--allow-empty", "-m", message)
        sha = self._git("rev-parse", "HEAD").strip()
        with self.kubectl.port_forward(NAMESPACE, "service/git-server", 80) as port:
            url = f"http://127.0.0.1:{port}/{REPOSITORY}.git"
            refspec = f"{'+' if self.force else ''}HEAD:refs/heads/{self.name}"
            self._git("push", "--quiet", url, refspec)
        return sha

    def _git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(self.worktree), *args], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"git {args[0]} failed: {result.stderr.strip()}")
        return result.stdout
