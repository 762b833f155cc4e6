"""Local emulator of SuperOffice CRM Online: `from toolkit.emulator import Emulator`.

SuperID (OpenID Connect), PartnerSystemUser (system user tickets) and the state API on the login
host (`Emulator.base_url`); tenant web services (`User/currentPrincipal` REST and SOAP, lists,
list items, web panels) on per-tenant hosts (`Emulator.host_urls`, 421 on the wrong host);
state-change webhooks; fault injection; a control plane under `/__emulator__/`.

Written from the protocol reference, not from the client code: it imports nothing from
`toolkit.auth`, `toolkit.tenant`, `toolkit.provisioning`, `toolkit.keys` or `toolkit.claims`.
"""

from toolkit.emulator.server import Emulator

__all__ = ["Emulator"]
