"""Local emulator of SuperOffice CRM Online (SuperID side): `from toolkit.emulator import Emulator`.

Written from the protocol reference, not from the client code: it imports nothing from
`toolkit.auth`, `toolkit.tenant`, `toolkit.provisioning`, `toolkit.keys` or `toolkit.claims`.
"""

from toolkit.emulator.server import Emulator

__all__ = ["Emulator"]
