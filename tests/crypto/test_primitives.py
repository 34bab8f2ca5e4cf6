"""Keyring primitives: round trips, and every tampering an attacker could try fails."""

from __future__ import annotations

import io
import os

import pytest

from caseapp import crypto
from caseapp.crypto import DecryptionError, KdfParams

FAST = KdfParams(1, 1024, 1)


def test_field_round_trip_and_binding():
    key = crypto.random_key()
    env = crypto.encrypt_field(key, "某诊所 B超", "tip:1:narrative")
    assert b"B\xe8\xb6\x85" not in env and "某诊所".encode() not in env
    assert crypto.decrypt_text(key, env, "tip:1:narrative") == "某诊所 B超"


@pytest.mark.parametrize("attack", ["wrong_key", "swapped_aad", "flipped_bit", "truncated",
                                    "bad_version"])
def test_field_tampering_fails(attack):
    key = crypto.random_key()
    env = bytearray(crypto.encrypt_field(key, b"secret narrative", "tip:1:narrative"))
    aad = "tip:1:narrative"
    if attack == "wrong_key":
        key = crypto.random_key()
    elif attack == "swapped_aad":
        aad = "tip:2:narrative"  # ciphertext copied into another row
    elif attack == "flipped_bit":
        env[20] ^= 1
    elif attack == "truncated":
        env = env[:-3]
    elif attack == "bad_version":
        env[0] = 0x7F
    with pytest.raises(DecryptionError):
        crypto.decrypt_field(key, bytes(env), aad)


def test_empty_binding_refused():
    with pytest.raises(crypto.CryptoError):
        crypto.encrypt_field(crypto.random_key(), b"x", "")


def test_seal_unseal_hybrid_pq():
    priv = crypto.generate_keypair()
    env = crypto.seal(b"k" * 32, priv.public_key(), "case:7:dept:3")
    assert env[0] == 1 and env[1] == 1  # version, ML-KEM-768+X25519 suite recorded
    assert crypto.unseal(env, priv, "case:7:dept:3") == b"k" * 32
    with pytest.raises(DecryptionError):
        crypto.unseal(env, crypto.generate_keypair(), "case:7:dept:3")
    with pytest.raises(DecryptionError):
        crypto.unseal(env, priv, "case:8:dept:3")
    tampered = bytearray(env)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionError):
        crypto.unseal(bytes(tampered), priv, "case:7:dept:3")


def test_private_key_serialisation_round_trip_and_repr_hides_it():
    priv = crypto.generate_keypair()
    again = crypto.PrivateKey(priv.to_bytes())
    assert again.public_key() == priv.public_key()
    assert priv.to_bytes().hex() not in repr(priv)


def test_user_key_wrapped_under_password():
    priv = crypto.generate_keypair()
    salt, env = crypto.wrap_user_key(priv, "correct horse battery", 5, FAST)
    assert priv.to_bytes() not in env
    opened = crypto.unlock_user_key(env, salt, "correct horse battery", 5, FAST)
    assert opened.to_bytes() == priv.to_bytes()
    with pytest.raises(DecryptionError):
        crypto.unlock_user_key(env, salt, "wrong password", 5, FAST)
    with pytest.raises(DecryptionError):
        crypto.unlock_user_key(env, salt, "correct horse battery", 6, FAST)  # other user's row


def test_session_secret_needs_the_cookie_token():
    token = crypto.new_session_token()
    secret = os.urandom(96)
    stored = crypto.seal_for_session(token, secret, "user-key")
    assert secret not in stored and token.encode() not in stored
    assert crypto.open_from_session(token, stored, "user-key") == secret
    with pytest.raises(DecryptionError):
        crypto.open_from_session(crypto.new_session_token(), stored, "user-key")
    assert crypto.session_id(token) != token


def test_department_key_for_member_and_symmetric_derivation():
    dept = crypto.generate_keypair()
    member = crypto.generate_keypair()
    wrapped = crypto.seal_department_key(dept, member.public_key(), 3, 9)
    opened = crypto.open_department_key(wrapped, member, 3, 9)
    assert crypto.department_symmetric_key(opened) == crypto.department_symmetric_key(dept)
    with pytest.raises(DecryptionError):
        crypto.open_department_key(wrapped, member, 4, 9)  # grant of another department


def test_receipt_format_checksum_and_tipster_key():
    receipt = crypto.new_receipt()
    assert len(receipt) == 28 and receipt.isdigit()
    shown = crypto.format_receipt(receipt)
    assert all(len(group) == 4 for group in shown.split())
    assert crypto.normalise_receipt(shown) == receipt
    swapped = receipt[:3] + receipt[4] + receipt[3] + receipt[5:]
    if swapped != receipt:
        assert crypto.normalise_receipt(swapped) is None
    salt = os.urandom(16)
    one = crypto.tipster_credentials(receipt, salt, FAST)
    two = crypto.tipster_credentials(receipt, salt, FAST)
    assert one.lookup == two.lookup and one.public_key == two.public_key
    other = crypto.tipster_credentials(crypto.new_receipt(), salt, FAST)
    assert other.lookup != one.lookup
    assert receipt not in one.lookup


def test_blind_index_normalises_spellings():
    key = os.urandom(32)
    a = crypto.blind_index(key, "clinic", "仁爱诊所")
    assert a == crypto.blind_index(key, "clinic", " 仁爱 诊所 ")
    assert crypto.blind_index(key, "clinic", "ＡＢＣ Clinic") == crypto.blind_index(
        key, "clinic", "abc-clinic")
    assert crypto.blind_index(key, "phone", "+86 138-1234-5678") == crypto.blind_index(
        key, "phone", "13812345678")
    assert a != crypto.blind_index(os.urandom(32), "clinic", "仁爱诊所")
    assert crypto.blind_index(key, "clinic", "  ") is None


def _encrypt(data: bytes, chunk: int = 1024) -> tuple[bytes, bytes]:
    key = crypto.random_key()
    out = io.BytesIO()
    crypto.encrypt_stream(key, io.BytesIO(data), out, "file:1", chunk_size=chunk)
    return key, out.getvalue()


def test_stream_round_trip_sizes():
    for size in (0, 1, 1023, 1024, 1025, 5000):
        data = os.urandom(size)
        key, blob = _encrypt(data)
        out = io.BytesIO()
        assert crypto.decrypt_stream(key, io.BytesIO(blob), out, "file:1") == size
        assert out.getvalue() == data


def _chunks(blob: bytes, chunk: int = 1024) -> tuple[bytes, list[bytes]]:
    header, body = blob[:12], blob[12:]
    size = chunk + 16
    return header, [body[i : i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("attack", ["truncate_last_chunk", "reorder", "drop_middle",
                                    "flip", "other_binding", "wrong_key"])
def test_stream_tampering_detected(attack):
    key, blob = _encrypt(os.urandom(4000))
    header, chunks = _chunks(blob)
    aad = "file:1"
    if attack == "truncate_last_chunk":
        chunks = chunks[:-1]
    elif attack == "reorder":
        chunks[0], chunks[1] = chunks[1], chunks[0]
    elif attack == "drop_middle":
        del chunks[1]
    elif attack == "flip":
        chunks[2] = bytes([chunks[2][0] ^ 1]) + chunks[2][1:]
    elif attack == "other_binding":
        aad = "file:2"
    elif attack == "wrong_key":
        key = crypto.random_key()
    with pytest.raises(DecryptionError):
        crypto.decrypt_stream(key, io.BytesIO(header + b"".join(chunks)), io.BytesIO(), aad)


def test_stream_memory_is_bounded_by_chunk():
    enc = crypto.StreamEncryptor(crypto.random_key(), "file:9", chunk_size=1024)
    out = enc.update(b"x" * 10_000)
    assert len(enc._buf) <= 1024
    assert len(out) == 9 * (1024 + 16)


def test_keystore_rotation_keeps_old_keys(tmp_path):
    store, escrow = crypto.KeyStore.create(tmp_path / "keys")
    assert (tmp_path / "keys" / "installation.json").stat().st_mode & 0o077 == 0
    assert escrow.to_bytes().hex() not in (tmp_path / "keys" / "installation.json").read_text()
    kid, sig = store.sign(b"proof")
    old_index = store.index_key
    store.rotate_signing_key()
    store.rotate_index_key()
    store.save()
    again = crypto.KeyStore.load(tmp_path / "keys")
    assert again.verify(kid, b"proof", sig)
    assert not again.verify(kid, b"proof!", sig)
    assert again.index_key != old_index and old_index in again.index_keys.values()


def test_escrow_file_written_once(tmp_path):
    priv = crypto.generate_keypair()
    path = tmp_path / "escrow.txt"
    crypto.write_escrow_file(path, "e1", priv)
    assert path.stat().st_mode & 0o077 == 0
    kid, back = crypto.read_escrow_file(path)
    assert kid == "e1" and back.to_bytes() == priv.to_bytes()
    with pytest.raises(FileExistsError):
        crypto.write_escrow_file(path, "e1", priv)


def test_only_crypto_package_imports_cryptography():
    import pathlib
    import re

    root = pathlib.Path(crypto.__file__).resolve().parent.parent
    offenders = [
        str(p.relative_to(root)) for p in root.rglob("*.py")
        if "crypto" not in p.relative_to(root).parts[:1]
        and re.search(r"^\s*(from|import)\s+cryptography", p.read_text(), re.M)
    ]
    assert offenders == []
