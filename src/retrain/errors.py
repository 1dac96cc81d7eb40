"""Errors a user can act on. The CLI prints them without a traceback and exits non-zero."""

from __future__ import annotations


class Actionable:
    """`message` names the problem; `hint` says how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  fix: {self.hint}"


class UserError(Actionable, Exception):
    """A problem in the user's input (params, data, payload, artifact, CLI argument). Exit 2."""

    exit_code = 2


class ValidationFailed(UserError):
    """Data validation failed closed: nothing downstream may run. Exit code 1."""

    exit_code = 1


class ServiceUnavailable(UserError):
    """An external service (registry, GitHub, feature store) could not be reached. Exit code 3."""

    exit_code = 3


class BudgetExceeded(Actionable, BaseException):
    """A stage used its cost budget (`cost.budget`). Exit code 4.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` in a library or in a
    search trial swallows it half-way through the stage."""

    exit_code = 4
