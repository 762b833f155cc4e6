"""The key ring canary: proof that the key ring opens this store."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from toolkit.errors import DecryptionError, SecretKeyError, StoreError
from toolkit.store.areas.base import RepositoryBase
from toolkit.store.crypto import associated_data, kid_of
from toolkit.store.database import read
from toolkit.store.schema import store_meta

__all__ = ["CANARY_KEY", "ENCRYPTED_META_KEYS", "KeyRingCanary", "is_sealed"]

# store_meta keys whose values are sealed; the canary proves the key ring fits this store.
CANARY_KEY = "canary"
_CANARY_TEXT = "superoffice-toolkit key ring canary"
ENCRYPTED_META_KEYS = (CANARY_KEY,)


def is_sealed(engine: Engine) -> bool:
    """True once a key ring has been bound to the store (its canary exists): after first start."""
    with read(engine) as connection:
        found = connection.execute(
            select(store_meta.c.key).where(store_meta.c.key == CANARY_KEY)
        ).first()
    return found is not None


class KeyRingCanary(RepositoryBase):
    def verify_key_ring(self) -> None:
        """Prove the key ring opens this store; on the first start, seal the canary with it.

        Raises :class:`SecretKeyError` when the canary cannot be decrypted: wrong key, or the
        key that sealed it is missing from the ring.
        """
        for attempt in (1, 2):
            try:
                with self._write() as connection:
                    stored = connection.execute(
                        select(store_meta.c.value).where(store_meta.c.key == CANARY_KEY)
                    ).scalar_one_or_none()
                    if stored is None:
                        connection.execute(
                            insert(store_meta).values(
                                key=CANARY_KEY,
                                value=self._seal(store_meta, CANARY_KEY, "value", _CANARY_TEXT),
                                updated_at=self._now(),
                            )
                        )
                        return
                break
            except IntegrityError:  # another starter sealed it first: check theirs
                if attempt == 2:
                    raise
        aad = associated_data(store_meta.name, CANARY_KEY, "value")
        if not isinstance(stored, str):  # pragma: no cover - the loop returns or assigns
            raise StoreError("the key ring canary could not be read")
        try:
            kid = kid_of(stored)
            opened = self._box.decrypt(stored, aad=aad)
        except SecretKeyError as exc:
            raise SecretKeyError(
                f"the key ring has no key {exc.kid!r}, which this store's secrets are sealed "
                "with; refusing to start (check SOTK_SECRET_KEYS or the secret.key file)",
                kid=exc.kid,
            ) from None
        except DecryptionError:
            raise SecretKeyError(
                f"key {kid!r} in the key ring is not the key this store was sealed with; "
                "refusing to start (check SOTK_SECRET_KEYS or the secret.key file)",
                kid=kid,
            ) from None
        if opened != _CANARY_TEXT:  # pragma: no cover - AES-GCM authenticated it
            raise SecretKeyError("the key ring canary holds an unexpected value")
