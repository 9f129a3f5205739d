"""The action's cache directory, seen from the workflow around the step: the `cache-key` output that
actions/cache/save keys it by, and the ownership and permissions that let the runner's user (not
root) read and clean what the container (root) wrote there. What goes into it is
gradcheck_ci.platform.compat's business.
"""

from __future__ import annotations

import hashlib
import os
import stat

# What can change the graphs a check compiles: the models' code and the config that calls it. Hidden
# folders (.git, .github, the cache itself), virtualenvs and caches are never the repository's
# models.
SOURCE_SUFFIXES = (".py", ".yml", ".yaml")
SKIP_DIRS = frozenset(
    {"node_modules", "__pycache__", "venv", "env", "site-packages", "build", "dist"}
)


def sources_digest(root: str, skip: frozenset[str] = frozenset()) -> str:
    """A SHA-256 over the paths and contents of the repository's Python and YAML files under `root`.

    `skip`: absolute directories left out (the cache directory, should it not be hidden).
    """
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and d not in SKIP_DIRS and os.path.join(folder, d) not in skip
        )
        for name in sorted(files):
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as handle:
                    content = handle.read()
            except OSError:  # unreadable or gone: its name still counts
                content = b""
            digest.update(
                os.path.relpath(path, root).replace(os.sep, "/").encode("utf-8", "surrogateescape")
            )
            digest.update(b"\0")
            digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def cache_key(workspace: str, cache_dir: str, stack_tag: str, shard: str | None = None) -> str:
    """`gradcheck-ci-[shard-I-of-N-]<stack>-<sources>`: a new key when the image's stack
    (cachedir.cache_tag) or the repository's models change, and the same key when nothing did (so an
    unchanged run saves nothing). A shard compiles its own models: its caches have a prefix of their
    own to restore from."""
    skip = frozenset({os.path.abspath(cache_dir)}) if cache_dir else frozenset()
    prefix = "gradcheck-ci-" + ("shard-{}-of-{}-".format(*shard.split("/")) if shard else "")
    return f"{prefix}{stack_tag}-{sources_digest(workspace, skip)[:16]}"


def hand_over(path: str, workspace: str) -> None:
    """Give what the check wrote under `path` to the workspace's owner, readable by everyone.

    The container runs as root; Theano creates its module folders with mode 0700 (mkdtemp). The
    runner's user, who saves the cache afterwards (actions/cache) and cleans the workspace before
    the next job on a self-hosted runner, could neither read nor delete them.
    """
    if not os.path.isdir(path):
        return
    make_readable(path)
    try:
        owner = os.stat(workspace)
    except OSError:
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and owner.st_uid != 0:
        for folder, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                _chown(os.path.join(folder, name), owner.st_uid, owner.st_gid)
        _chown(path, owner.st_uid, owner.st_gid)


def _chown(path: str, uid: int, gid: int) -> None:
    try:
        os.lchown(path, uid, gid)
    except OSError:  # gone meanwhile: nothing to hand over
        pass


def make_readable(path: str) -> None:
    """Let every user read (and enter) what was written under `path`."""
    if not os.path.isdir(path):
        return
    for folder, dirs, files in os.walk(path):
        for name in dirs:
            _add_mode(
                os.path.join(folder, name),
                stat.S_IRUSR
                | stat.S_IXUSR
                | stat.S_IRGRP
                | stat.S_IXGRP
                | stat.S_IROTH
                | stat.S_IXOTH,
            )
        for name in files:
            _add_mode(os.path.join(folder, name), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    _add_mode(
        path,
        stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH,
    )


def _add_mode(path: str, bits: int) -> None:
    try:
        mode = os.lstat(path).st_mode
        if not stat.S_ISLNK(mode) and (mode & bits) != bits:
            os.chmod(path, stat.S_IMODE(mode) | bits)
    except OSError:  # gone meanwhile, or not ours: the cache step will say what it cannot read
        pass
