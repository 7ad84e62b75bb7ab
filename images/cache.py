"""Where built things live: outside the checkout, keyed by version, reused across runs."""

import os
from pathlib import Path

# Where images built here are tagged: a cache too, kept by Docker. Another prefix is
# another, empty cache (CI runs the fast tests on one, to prove a new machine's first run).
IMAGE_PREFIX = os.environ.get("ARGOCD_MIGRATION_E2E_IMAGE_PREFIX", "migration-e2e.local")


def cache_root() -> Path:
    default = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "argocd-migration-e2e"
    )
    root = Path(os.environ.get("ARGOCD_MIGRATION_E2E_CACHE", default))
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_file(step: str) -> Path:
    """A fresh log file for one build step, named after it."""
    path = cache_dir("logs") / f"{step.replace('/', '_').replace(':', '_')}.log"
    path.write_text("")
    return path


def host_ca_bundle() -> Path | None:
    """The host's CA bundle, for builds behind a TLS-intercepting proxy (ours, many CIs)."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None
