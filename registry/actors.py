"""Who is acting: role, sites, center and token scopes, and the scoping rules that follow from them.

Every use case takes an :class:`Actor`; views and API handlers build one, never check roles themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, false, or_, true

from registry.choices import Role, TokenScope
from registry.errors import Forbidden
from registry.models import Site


@dataclass(frozen=True)
class Actor:
    """The person or process behind a change; ``source`` is the entry point (api, csv, web, cli)."""

    name: str
    role: Role
    source: str
    user_id: int | None = None
    site_ids: frozenset[int] = field(default_factory=frozenset)
    center_id: int | None = None
    #: None: not limited by a token; otherwise the token's scopes
    scopes: frozenset[str] | None = None
    request_id: str = ""

    @classmethod
    def system(cls, source: str, name: str | None = None) -> Actor:
        """An administrator acting from the command line, the demo loader or a migration."""
        return cls(name=name or source, role=Role.ADMIN, source=source)

    def with_source(self, source: str, request_id: str = "") -> Actor:
        return Actor(
            self.name,
            self.role,
            source,
            self.user_id,
            self.site_ids,
            self.center_id,
            self.scopes,
            request_id or self.request_id,
        )

    # --- scopes of an API token -------------------------------------------------------------
    def require_scope(self, scope: TokenScope) -> None:
        if self.scopes is not None and scope.value not in self.scopes:
            raise Forbidden(f"the token lacks the scope {scope.value!r}")

    # --- what the role allows ---------------------------------------------------------------
    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def require_admin(self, what: str) -> None:
        if not self.is_admin:
            raise Forbidden(f"only an administrator may change {what}")

    def require_site_writer(self) -> None:
        """Facility managers and admins change devices and locations; operators only read, and an
        integration account has no registry rights at all."""
        if self.role == Role.OPERATOR:
            raise Forbidden("operators have read-only access to the registry")
        if self.role not in (Role.ADMIN, Role.FACILITY_MANAGER):
            raise Forbidden("this account may not change the registry")

    def site_filter(self) -> ColumnElement[bool]:
        """SQL condition on :class:`Site` that keeps only the sites this actor may see."""
        if self.is_admin:
            return true()
        if self.role == Role.FACILITY_MANAGER:
            return Site.id.in_(self.site_ids) if self.site_ids else false()
        if self.role != Role.OPERATOR or self.center_id is None:
            return false()
        return or_(Site.day_center_id == self.center_id, Site.out_of_hours_center_id == self.center_id)

    def may_write_site(self, site_id: int) -> bool:
        if self.is_admin:
            return True
        return self.role == Role.FACILITY_MANAGER and site_id in self.site_ids
