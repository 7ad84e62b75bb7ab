"""The `argocd` CLI: how users drive Argo CD, and so how the scenarios do. Every sync,
rollback, termination and sync-policy change goes through it, so a finding holds for the
command a user types, not for an imitation of it.

Core mode (`argocd --core`), as Argo CD's docs set it up for an install without an API
server (core-install.yaml): the CLI runs the API server's code in-process against the
kubeconfig, whose context names Argo CD's namespace (`kubectl config set-context
--current --namespace=argocd`), and port-forwards to Redis and the repo-server itself.
Reading state for assertions stays on the kubernetes client.
"""

import logging
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from tenacity import Retrying, retry_if_result, stop_after_attempt

from e2e.argocd import NAMESPACE
from images.argocd import cli_environment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """One command, as it ran."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    note: str = ""  # how the exit code was read, when not as it came

    @property
    def command(self) -> str:
        return "argocd " + shlex.join(self.args)

    @property
    def header(self) -> str:
        note = f"; {self.note}" if self.note else ""
        return f"$ {self.command}  (exit {self.returncode}, {self.seconds:.1f}s{note})"

    @property
    def said(self) -> str:
        """What the command said last: its error, or its output."""
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return "\n".join(text[-5:])

    def __str__(self) -> str:
        return f"{self.header}\n{self.said}"


class CommandFailed(AssertionError):
    """A command that was expected to succeed did not: its command line and stderr."""

    def __init__(self, result: Result) -> None:
        super().__init__(str(result))
        self.result = result


@dataclass
class ArgoCDCLI:
    programs: dict[str, Path]  # the CLI of each Argo CD release the session installs
    kubeconfig: Path  # the cluster's, with Argo CD's namespace on its context
    transcript: Path  # every command, its exit code and output, for the artifacts
    version: str  # the release the cluster runs now (kept current by the installs)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, *args: str, timeout: float = 900) -> Result:
        """The command's result, whatever its exit code (a refusal can be the finding)."""
        # Its own config file (never written in core mode): a user's own Argo CD contexts
        # stay out of it.
        config = self.kubeconfig.with_name("argocd-cli-config")
        command = [str(self.programs[self.version]), *args, "--core", "--config", str(config)]

        def attempt() -> Result:
            started = time.monotonic()
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env={**cli_environment(), "KUBECONFIG": str(self.kubeconfig)},
            )
            seconds = time.monotonic() - started
            result = Result(tuple(args), done.returncode, done.stdout, done.stderr, seconds)
            if _done_but_lost_the_exit(done.returncode, done.stderr):
                note = "exit 20 from the RBAC loader's race at the command's end, read as 0"
                result = replace(result, returncode=0, note=note)
            log.info("%s", result)
            self._record(result)
            return result

        # Core mode starts an API server of its own on a port it found free a moment before
        # (cmd/argocd/commands/headless/headless.go, MaybeStartLocalServer: listen on :0,
        # close, listen again), so a port taken meanwhile by another process (another
        # worker's CLI, a port-forward) fails the command before it did anything: made again.
        retrying = Retrying(
            retry=retry_if_result(_lost_its_port),
            stop=stop_after_attempt(3),
            retry_error_callback=lambda state: state.outcome.result(),
        )
        return retrying(attempt)

    def __call__(self, *args: str, timeout: float = 900) -> str:
        """The command's output; a non-zero exit raises with its command line and stderr."""
        result = self.run(*args, timeout=timeout)
        if result.returncode != 0:
            raise CommandFailed(result)
        return result.stdout

    def _record(self, result: Result) -> None:
        entry = f"{result.header}\n{result.stdout}{result.stderr}\n"
        with self._lock, self.transcript.open("a") as out:
            out.write(entry)


def _done_but_lost_the_exit(returncode: int, stderr: str) -> bool:
    """Exit 20 from a race at the end, after the command had done its work: the command
    returning cancels its context (util/cli/cli.go, WithSignalContextE: `defer cancel()`),
    which core mode's in-process API server runs on; if that server's RBAC loader is still
    reading argocd-rbac-cm then (server/server.go, rbacPolicyLoader, on a busy API server),
    the read fails with "context canceled" and errorsutil.CheckError exits 20 before the
    command's own exit 0. Only that: an error of the command's own would be said too."""
    said = [line for line in stderr.splitlines() if line.strip()]
    return (
        returncode == 20
        and any("error getting RBAC configmap" in line for line in said)
        and all("context canceled" in line for line in said)
    )


def _lost_its_port(result: Result) -> bool:
    said = result.stderr
    return (
        result.returncode != 0 and "failed to listen" in said and "address already in use" in said
    )


def core_mode_kubeconfig(kubeconfig: Path, target: Path) -> Path:
    """A copy of `kubeconfig` whose current context names Argo CD's namespace, which is
    where core mode looks for Argo CD."""
    config = yaml.safe_load(kubeconfig.read_text())
    current = config.get("current-context")
    for context in config.get("contexts", []):
        if context["name"] == current:
            context["context"]["namespace"] = NAMESPACE
    target.write_text(yaml.safe_dump(config))
    return target
