"""All cryptography of caseapp (see ENCRYPTION.md); the only importer of `cryptography`."""

from .errors import CryptoError, DecryptionError, KeyStoreError, KeyUnavailable
from .hybrid import PrivateKey, PublicKey, generate_keypair, keypair_from_seed, seal, unseal
from .keyring import (
    KdfParams,
    TipsterCredentials,
    department_symmetric_key,
    escrow_aad,
    format_receipt,
    new_receipt,
    new_session_token,
    normalise_receipt,
    open_department_key,
    open_from_session,
    seal_department_key,
    seal_for_session,
    session_id,
    tipster_credentials,
    unlock_user_key,
    wrap_user_key,
)
from .keystore import KeyStore, read_escrow_file, write_escrow_file
from .portal import client_tag, receipt_from_token, token_digest
from .primitives import (
    blind_index,
    constant_time_equal,
    decrypt_field,
    decrypt_text,
    encrypt_field,
    normalise,
    random_key,
    sha256_hex,
    unwrap_key,
    wrap_key,
)
from .retention import (
    ACTIVE_EPOCH,
    RetentionKeys,
    apply_pad,
    new_pad,
    pad_subkey,
    unwrap_pad,
    wrap_pad,
)
from .sealing import SealingFile
from .spool import EncryptedSpool
from .stream import CHUNK, StreamEncryptor, decrypt_chunks, decrypt_stream, encrypt_stream

__all__ = [
    "CryptoError", "DecryptionError", "KeyStoreError", "KeyUnavailable",
    "PrivateKey", "PublicKey", "generate_keypair", "keypair_from_seed", "seal", "unseal",
    "KdfParams", "TipsterCredentials", "department_symmetric_key", "escrow_aad",
    "format_receipt", "new_receipt", "new_session_token", "normalise_receipt",
    "open_department_key", "open_from_session", "seal_department_key", "seal_for_session",
    "session_id", "tipster_credentials", "unlock_user_key", "wrap_user_key",
    "KeyStore", "read_escrow_file", "write_escrow_file",
    "blind_index", "constant_time_equal", "decrypt_field", "decrypt_text", "encrypt_field",
    "normalise", "random_key", "sha256_hex", "unwrap_key", "wrap_key",
    "StreamEncryptor", "decrypt_chunks", "decrypt_stream", "encrypt_stream",
    "EncryptedSpool", "SealingFile", "CHUNK", "client_tag", "receipt_from_token", "token_digest",
    "ACTIVE_EPOCH", "RetentionKeys", "apply_pad", "new_pad", "pad_subkey", "unwrap_pad",
    "wrap_pad",
]
