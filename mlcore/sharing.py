"""Share links: an unguessable token (secrets.token_urlsafe, 192 bits) that opens one run
read-only, revocable, with an optional expiry. Unknown, revoked and expired tokens all get
the same sentence, so a token's history is not given away."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from .errors import ShareError, StoreError
from .store_schema import runs, shares

TOKEN_BYTES = 24                  # 32 URL-safe characters
MAX_TOKEN_LENGTH = 64             # longer strings are refused before any query
MAX_EXPIRY_DAYS = 3650
SHARE_INVALID = "This share link is not valid: it was revoked, has expired or never existed."


@dataclass(frozen=True)
class ShareRow:
    """One share link of a run."""

    token: str
    run_id: int
    created: datetime
    expires: datetime | None
    revoked: bool

    def active(self, now: datetime) -> bool:
        """Whether the link opens its run at `now`."""
        return not self.revoked and (self.expires is None or now < self.expires)


def new_share(connection: Connection, run_id: int, now: datetime,
              expires_days: float | None = None) -> str:
    """A new token for `run_id`, expiring `expires_days` after `now` (None: never)."""
    if expires_days is not None and not 0 < expires_days <= MAX_EXPIRY_DAYS:
        raise StoreError(f"A share link expires after 0 to {MAX_EXPIRY_DAYS:,} days "
                         f"(got {expires_days:g}).")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = None if expires_days is None else now + timedelta(days=expires_days)
    connection.execute(insert(shares).values(token=token, run=run_id, created=now,
                                             expires=expires, revoked=False))
    return token


def list_shares(connection: Connection, run_id: int) -> list[ShareRow]:
    """The links of one run, newest first."""
    rows = connection.execute(select(shares).where(shares.c.run == run_id)
                              .order_by(shares.c.created.desc(), shares.c.token))
    return [ShareRow(r.token, r.run, r.created, r.expires, r.revoked) for r in rows]


def revoke_share(connection: Connection, workspace: str, token: str) -> None:
    """Revoke `token`, which must be a link to a run of `workspace` (revoking twice is
    fine); a link viewer without the workspace token cannot revoke it."""
    owned = select(runs.c.id).where(runs.c.workspace == workspace)
    done = connection.execute(update(shares).where(shares.c.token == token[:MAX_TOKEN_LENGTH],
                                                   shares.c.run.in_(owned))
                              .values(revoked=True))
    if done.rowcount != 1:
        raise StoreError("This workspace has no share link with that token.")


def shared_run_id(connection: Connection, token: str, now: datetime) -> int:
    """The run `token` opens at `now`; ShareError (one sentence) if it opens none."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise ShareError(SHARE_INVALID)
    row = connection.execute(select(shares).where(shares.c.token == token)).first()
    if row is None or not ShareRow(row.token, row.run, row.created, row.expires,
                                   row.revoked).active(now):
        raise ShareError(SHARE_INVALID)
    return row.run
