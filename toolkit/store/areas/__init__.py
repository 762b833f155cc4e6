"""The store's areas, one module each; :class:`~toolkit.store.repository.Repository` joins them.

``base`` holds the shared plumbing (transactions, sealing, audit, lookups) and ``common`` the
shared helpers; every other module is one area of the store as a mixin on
:class:`~toolkit.store.areas.base.RepositoryBase`.
"""
