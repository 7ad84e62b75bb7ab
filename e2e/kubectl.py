"""The few things done with kubectl rather than the Python client: server-side apply of
large manifests (Argo CD's CRDs exceed client-side apply's annotation limit), and
port-forwards that stop retrying at the first good connection."""

import contextlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from e2e.waits import Outcome, pending, succeeded, wait_until


class Kubectl:
    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary, self.kubeconfig = binary, kubeconfig

    def __call__(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run(
            [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args[:3])}: {result.stderr.strip()}")
        return result.stdout

    def apply_server_side(self, manifest: str, namespace: str | None = None) -> None:
        ns = ["--namespace", namespace] if namespace else []
        self("apply", "--server-side", "--force-conflicts", *ns, "-f", "-", input=manifest)

    @contextlib.contextmanager
    def port_forward(self, namespace: str, target: str, port: int) -> Iterator[int]:
        """`kubectl port-forward` to a free local port; yields it once it accepts a connection.

        pytest-kind-ng's port_forward keeps starting new forwards after a good connect
        and sleeps a fixed second each time; this one waits on the condition instead.
        """
        local = _free_port()
        proc = subprocess.Popen(
            [
                str(self.binary),
                "--kubeconfig",
                str(self.kubeconfig),
                "-n",
                namespace,
                "port-forward",
                target,
                f"{local}:{port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:

            def connects() -> Outcome:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"port-forward to {namespace}/{target} exited: {proc.stderr.read()}"
                    )
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", local), timeout=1),
                ):
                    return succeeded(f"127.0.0.1:{local} accepts")
                return pending(f"127.0.0.1:{local} to accept connections")

            wait_until(connects, 30, f"port-forward to {namespace}/{target}:{port}")
            yield local
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
