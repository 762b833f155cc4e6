"""Protocol vocabulary: SuperOffice's words and numbers shared by the error tree and the clients.

It imports nothing of the toolkit, so :mod:`toolkit.errors` can name a tenant's state without
reaching the state client (and through it config and HTTP).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Final

__all__ = ["RUNNING_STATES", "TenantState"]


class TenantState(IntEnum):
    """The tenant states of the state API, with SuperOffice's numbers (7 and 9 are unused)."""

    Unknown = 0
    Provisioning = 1
    Running = 2
    Deleted = 3
    Suspended = 4
    OnlineMaintenance = 5
    OfflineMaintenance = 6
    ProvisioningFailed = 8
    Deleting = 10
    DeleteFailed = 11
    MigrationPending = 12

    @classmethod
    def from_wire(cls, value: Any) -> TenantState:
        """The state for a wire ``State``: its name (case-insensitive) or its number.

        An unrecognised value is ``Unknown`` (a state added later must not crash a fleet run).
        """
        if isinstance(value, bool):
            return cls.Unknown
        if isinstance(value, int):
            try:
                return cls(value)
            except ValueError:
                return cls.Unknown
        if isinstance(value, str):
            text = value.strip()
            if text.isdigit():
                return cls.from_wire(int(text))
            return _STATES_BY_FOLDED.get(text.casefold(), cls.Unknown)
        return cls.Unknown


_STATES_BY_FOLDED = {state.name.casefold(): state for state in TenantState}
# "IsRunning: true only for Running and OnlineMaintenance" (§6): the API is available.
RUNNING_STATES: Final = frozenset({TenantState.Running, TenantState.OnlineMaintenance})
