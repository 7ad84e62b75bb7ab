"""Which Argo CD a `--argocd-version` names, and what building it from source takes.

A pinned release (versions.toml) is built exactly as pinned. Anything else (a release
candidate, a release not pinned yet, a branch or a commit) is whatever the Go module
proxy resolves it to: that is how a platform team tests an Argo CD before it is released.
Its build needs are read from its own go.mod, so an unknown ref fails here, at once.
"""

import re
import urllib.error
from dataclasses import dataclass
from functools import cache

from images import gobuild, upstream
from images.errors import BuildError
from images.pins import pins

MODULE = "github.com/argoproj/argo-cd/v3"
# A pseudo-version ends in the commit's first 12 hex digits.
PSEUDO_COMMIT = re.compile(r"-(?:0\.)?\d{14}-([0-9a-f]{12})$")


@dataclass(frozen=True)
class ArgoCDRelease:
    """What a build of one Argo CD module version needs."""

    version: str  # a module version: v3.6.1, v3.6.0-rc2, v3.7.0-0.2026…-abcdef012345
    go: str  # the toolchain
    gitops_engine_module: str  # the nested module the argo-cd zip leaves out
    gitops_engine_version: str
    kustomize: str
    helm: str  # the Helm its image carries (Argo CD renders Helm charts with it)
    pinned: bool
    # v3.2 to v3.5: the nested module's source, given here (the proxy serves none)
    gitops_engine_source: upstream.LocalSource | None = None


def pinned_versions() -> list[str]:
    return sorted(pins()["argocd"]["releases"], key=_as_tuple)


@cache
def release(ref: str) -> ArgoCDRelease:
    """The pinned release, or the ref resolved through the Go module proxy."""
    pinned = pins()["argocd"]["releases"].get(ref)
    if pinned:
        engine_module = pinned["gitops_engine_module"]
        source = (
            upstream.gitops_engine(engine_module, ref, pinned.get("gitops_engine_tree"))
            if pinned.get("gitops_engine_from") == "source"
            else None
        )
        return ArgoCDRelease(
            ref,
            pinned["go"],
            engine_module,
            pinned["gitops_engine_version"],
            pinned.get("kustomize") or pins()["tools"]["kustomize"]["version"],
            pinned.get("helm") or pins()["tools"]["helm"]["version"],
            pinned=True,
            gitops_engine_source=source,
        )
    version = _proxy_version(MODULE, ref)
    gomod = gobuild.fetch_from_proxy(f"{MODULE}/@v/{version}.mod").decode()
    engine_module, engine_version, source = _gitops_engine(gomod, version)
    return ArgoCDRelease(
        version,
        _toolchain_for(gomod),
        engine_module,
        engine_version,
        pins()["tools"]["kustomize"]["version"],
        pins()["tools"]["helm"]["version"],
        pinned=False,
        gitops_engine_source=source,
    )


def _proxy_version(module: str, ref: str) -> str:
    """The proxy's answer to `module@ref` (tags, branches and commits all resolve)."""
    try:
        info = gobuild.fetch_from_proxy(f"{module}/@v/{ref}.info").decode()
    except urllib.error.HTTPError as err:
        said = err.read().decode(errors="replace").strip().splitlines()[:1]
        raise BuildError(
            "argocd version",
            f"{ref!r} is neither pinned in versions.toml ({', '.join(pinned_versions())}) "
            f"nor served by the Go module proxy {gobuild.goproxy()} "
            f"({err.code}: {said[0] if said else err.reason})",
        ) from None
    except urllib.error.URLError as err:
        raise BuildError(
            "argocd version",
            f"{ref!r} is not pinned in versions.toml ({', '.join(pinned_versions())}) and "
            f"the Go module proxy {gobuild.goproxy()} is unreachable ({err.reason})",
        ) from None
    found = re.search(r'"Version":\s*"([^"]+)"', info)
    if not found:
        raise BuildError("argocd version", f"unexpected proxy answer for {ref!r}: {info[:200]}")
    return found.group(1)


def _gitops_engine(gomod: str, version: str) -> tuple[str, str, upstream.LocalSource | None]:
    """The nested gitops-engine module at the same commit as argo-cd itself: tagged with
    the release since v3.6, the same commit's pseudo-version for a branch or a commit;
    before v3.6 the proxy has none, so its source must be given."""
    found = re.search(r"^\s*(github\.com/argoproj/argo-cd/gitops-engine\S*)\s+(\S+)", gomod, re.M)
    if not found:
        raise BuildError(f"argocd {version}", "its go.mod requires no nested gitops-engine")
    engine_module, required = found.groups()
    commit = PSEUDO_COMMIT.search(version)
    wanted = commit.group(1) if commit else version
    try:
        return engine_module, _proxy_version(engine_module, wanted), None
    except BuildError:
        return engine_module, required, upstream.gitops_engine(engine_module, version, None)


def _toolchain_for(gomod: str) -> str:
    """The newest pinned toolchain of the go.mod's Go minor, else the go.mod's own."""
    found = re.search(r"^toolchain go(\S+)", gomod, re.M) or re.search(r"^go (\S+)", gomod, re.M)
    if not found:
        raise BuildError("argocd version", "its go.mod names no Go version")
    wanted = found.group(1)
    minor = ".".join(wanted.split(".")[:2])
    candidates = {pins()["go"]["default"], pins()["tools"]["kustomize"]["go"]} | {
        r["go"] for r in pins()["argocd"]["releases"].values()
    }
    same_minor = [c for c in candidates if c.startswith(minor + ".") and _newer_or_same(c, wanted)]
    return max(same_minor, key=_as_tuple) if same_minor else wanted


def _as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def _newer_or_same(candidate: str, wanted: str) -> bool:
    return _as_tuple(candidate) >= _as_tuple(wanted)


def upgrade_from(version: str, image_path: str, *, across_minors: bool = True) -> str | None:
    """Where the upgrade test starts by default: the newest release pinned for the image
    path of the minor before `version`'s (v3.6.1 and a v3.7 commit alike start from the
    newest pinned release below their own minor), or of its own minor. On the source path
    a release counts as pinned only if all of it is: before v3.6 that takes its
    gitops-engine's git tree id."""
    level = 2 if across_minors else 3
    older = [
        v
        for v in pinned_versions()
        if _as_tuple(v)[:level] < _as_tuple(version)[:level]
        and (image_path != "source" or _source_pinned(v))
    ]
    return max(older, key=_as_tuple, default=None)


def needs_given_source(version: str) -> bool:
    """A pinned release whose nested gitops-engine the proxy does not serve."""
    return pins()["argocd"]["releases"].get(version, {}).get("gitops_engine_from") == "source"


def _source_pinned(version: str) -> bool:
    return not needs_given_source(version) or (
        "gitops_engine_tree" in pins()["argocd"]["releases"][version]
    )
