"""Which local files an API request may make the server read or write: its ``--allow-path``.

``batchform server --allow-path DIR`` (repeatable) names the roots; a ``file://`` URI or local
path in a request must lie under one of them, and ``s3://`` URIs are never restricted. A path
is judged by where it really leads: symbolic links are resolved (``os.path.realpath``) before
the containment check, so neither ``..`` nor a link inside a root can reach outside it.

The jobs layer checks a request's fields at create time with the server's settings
(:meth:`PathPolicy.for_roots`). A job's own processes check again where a path is opened — each
listed or manifest-named input, each output before it is written — with the roots the server
exported to them (:meth:`PathPolicy.of_process`), since a link may be swapped in meanwhile.
Without a server (``batchform transform``) the policy is unrestricted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from batchform.config import allowed_paths_of_process
from batchform.errors import ValidationError
from batchform.storage.uri import ObjectURI


class Access(StrEnum):
    """What the server would do with a path; the verb of the refusal."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class PathPolicy:
    """The local roots a request may name, resolved; ``None`` allows every path."""

    roots: tuple[Path, ...] | None

    @classmethod
    def for_roots(cls, allowed: tuple[Path, ...] | None) -> PathPolicy:
        """The policy of ``Settings.allowed_paths`` (``None``: unrestricted)."""
        if allowed is None:
            return cls(None)
        return cls(tuple(_real(str(root)) for root in allowed))

    @classmethod
    def of_process(cls) -> PathPolicy:
        """The roots ``batchform server`` exported to this process; unrestricted elsewhere."""
        return cls.for_roots(allowed_paths_of_process())

    @property
    def restricts(self) -> bool:
        return self.roots is not None

    def check(self, text: str, field: str, access: Access) -> None:
        """Raise ValidationError naming ``field`` unless ``text`` (as given in the request) is
        an ``s3://`` URI or a local path under a root."""
        self.check_uri(ObjectURI.parse(text, field=field), f"{field} {text}", access)

    def check_uri(self, uri: ObjectURI, what: str, access: Access) -> None:
        """Raise ValidationError starting with ``what`` unless ``uri`` may be used."""
        reason = self.refusal(uri, access)
        if reason is not None:
            raise ValidationError(f"{what} {reason}")

    def refusal(self, uri: ObjectURI, access: Access) -> str | None:
        """Why ``uri`` may not be used (a clause to follow its name), or None if it may."""
        if self.roots is None or uri.scheme != "file":
            return None
        real = _real(uri.key)
        if any(real.is_relative_to(root) for root in self.roots):
            return None
        if not self.roots:
            return (
                f"is a local path, and this server may {access} no local paths "
                "(start it with --allow-path DIR to allow some)"
            )
        roots = ", ".join(str(root) for root in self.roots)
        leads = "" if real.as_posix() == uri.key.rstrip("/") else f" (it leads to {real})"
        return f"is outside the paths this server may {access} (--allow-path): {roots}{leads}"


def _real(path: str) -> Path:
    # realpath resolves every link of the part that exists and keeps the rest as written;
    # ObjectURI has already folded "..", exactly as the store will open the path.
    return Path(os.path.realpath(path))
