"""Local emulator of SuperOffice CRM Online: `from toolkit.emulator import Emulator`.

SuperID (OpenID Connect), PartnerSystemUser (system user tickets), the first tenant web
services (`User/currentPrincipal`, REST and SOAP) and a control plane under `/__emulator__/`.

Written from the protocol reference, not from the client code: it imports nothing from
`toolkit.auth`, `toolkit.tenant`, `toolkit.provisioning`, `toolkit.keys` or `toolkit.claims`.
"""

from toolkit.emulator.server import Emulator

__all__ = ["Emulator"]
