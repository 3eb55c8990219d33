"""Errors of the registry use cases; entry points (API, CSV, forms) translate them for their users."""

from __future__ import annotations

from collections.abc import Mapping


class RegistryError(Exception):
    """Base of every error a registry use case raises on purpose."""


class ValidationFailed(RegistryError):
    """Input that cannot be stored; ``errors`` maps a field name to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


class Conflict(RegistryError):
    """The change clashes with an existing object (duplicate ANI, object still in use)."""

    def __init__(self, message: str, field: str = "", existing_id: int | None = None):
        self.message = message
        self.field = field
        self.existing_id = existing_id
        super().__init__(message)


class NotFound(RegistryError):
    """No such object, or one the actor may not see (the two are not told apart)."""

    def __init__(self, object_type: str, ref: object):
        self.object_type = object_type
        self.ref = ref
        super().__init__(f"{object_type} {ref} not found")


class Forbidden(RegistryError):
    """The actor's role or token scope does not allow this kind of change at all."""
