"""Domain errors of the crypto package; nothing outside it sees `cryptography` exceptions."""


class CryptoError(Exception):
    """Base class of every crypto failure."""


class DecryptionError(CryptoError):
    """A ciphertext did not open: wrong key, tampered bytes, wrong binding or truncation."""


class KeyUnavailable(CryptoError):
    """The caller holds no key that opens this object."""


class KeyStoreError(CryptoError):
    """The installation key store is missing, unreadable or inconsistent."""
