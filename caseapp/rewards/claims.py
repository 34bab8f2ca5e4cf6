"""The anonymous claim: validated, sealed to the finance department key and to escrow.

Nobody but finance (and the offline escrow key) can open a claim: it is HPKE-sealed to
the finance department's public key, bound to the reward (`reward:<id>:claim:dept:<d>`),
and a second copy to the escrow key. The one-time collection code of an in-person payout
is shown to the tipster once and kept only as an HMAC under the server-held index key.
Inside both seals the claim is AES-GCM-encrypted under a key derived from the reward's
retention pad (`caseapp.retention.locks.claim_key`): once the purge destroys the pad's
epoch key, neither finance's key nor escrow opens a claim from an old backup.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from datetime import date

from flask import current_app
from sqlalchemy import select

from .. import clock
from ..accounts.models import Department
from ..audit.service import record
from ..config import Config
from ..crypto import (
    DecryptionError,
    KeyStore,
    KeyUnavailable,
    PrivateKey,
    PublicKey,
    blind_index,
    constant_time_equal,
    decrypt_field,
    encrypt_field,
    escrow_aad,
    seal,
    unseal,
)
from ..extensions import db
from ..retention.locks import claim_key, ensure_lock
from ..retention.models import RetentionKind
from ..retention.policy import reward_claimed
from .errors import (
    ClaimWindowClosed,
    FinanceUnavailable,
    IllegalTransition,
    InvalidClaim,
    NoSuchReward,
)
from .models import DbSession, PayoutMethod, Reward, RewardState
from .validation import (
    FieldProblem,
    check_bank_account,
    check_bank_name,
    check_id_number,
    check_payee_name,
)

CLAIM_VERSION = 1
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 12  # 31^12 ≈ 2^59


@dataclass(frozen=True)
class ClaimInput:
    """What the tipster types on the claim form."""

    payee_name: str
    id_number: str
    method: str
    bank_name: str = ""
    account_number: str = ""
    office: str = ""


@dataclass(frozen=True)
class ClaimDetails:
    """A claim as finance reads it, once opened with the finance department key."""

    payee_name: str
    id_number: str
    method: str
    bank_name: str
    account_number: str
    office: str
    submitted_on: str


@dataclass(frozen=True)
class ClaimReceipt:
    """The outcome shown to the tipster; `collection_code` only for in-person collection."""

    reward_id: int
    method: str
    office: str
    collection_code: str | None


def claim_aad(reward_id: int, department_id: int) -> str:
    """Binding of a claim sealed to a department."""
    return f"reward:{reward_id}:claim:dept:{department_id}"


def claim_escrow_aad(reward_id: int, escrow_kid: str) -> str:
    """Binding of the escrow copy of a claim."""
    return escrow_aad("reward-claim", reward_id, escrow_kid)


def claim_inner_aad(reward_id: int) -> str:
    """Binding of the inner (retention pad) layer of a claim."""
    return f"reward:{reward_id}:claim:inner"


def finance_department(session: DbSession | None = None,
                       cfg: Config | None = None) -> Department | None:
    """The department whose key opens claims (Config.finance_department), or None."""
    session = session or db.session
    code = (cfg or current_app.config["CASEAPP"]).finance_department
    return session.scalar(select(Department).where(Department.code == code))


def validate_claim(data: ClaimInput, offices: tuple[str, ...],
                   today: date | None = None) -> ClaimInput:
    """The cleaned claim; InvalidClaim with every problem at once (field → code)."""
    problems: dict[str, str] = {}
    cleaned: dict[str, str] = {"method": data.method, "bank_name": "", "account_number": "",
                               "office": ""}

    def take(name: str, check: object, value: str) -> None:
        try:
            cleaned[name] = check(value)  # type: ignore[operator]
        except FieldProblem as exc:
            problems[name] = exc.code

    take("payee_name", check_payee_name, data.payee_name)
    take("id_number", lambda v: check_id_number(v, today), data.id_number)
    if data.method == PayoutMethod.BANK:
        take("bank_name", check_bank_name, data.bank_name)
        take("account_number", check_bank_account, data.account_number)
    elif data.method == PayoutMethod.IN_PERSON:
        if data.office not in offices:
            problems["office"] = "required" if not data.office else "unknown"
        else:
            cleaned["office"] = data.office
    else:
        problems["method"] = "required"
    if problems:
        raise InvalidClaim(problems)
    return ClaimInput(**cleaned)


def new_collection_code() -> str:
    """A one-time collection code, e.g. `K7DQ-M2XA-9FHE` (about 59 bits)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def _code_kind(reward_id: int) -> str:
    return f"reward-code:{reward_id}"


def hash_collection_code(store: KeyStore, reward_id: int, code: str) -> tuple[str, str]:
    """(key id, keyed hash) of a collection code, bound to its reward."""
    digest = blind_index(store.index_key, _code_kind(reward_id), code)
    assert digest is not None
    return store.index_current, digest


def check_collection_code(reward: Reward, code: str) -> bool:
    """True when `code` is the reward's collection code (spacing and case ignored)."""
    from ..keys import keystore

    if not reward.collection_code_hash or not reward.collection_code_kid:
        return False
    key = keystore().index_keys.get(reward.collection_code_kid)
    digest = blind_index(key, _code_kind(reward.id), code) if key and code else None
    return digest is not None and constant_time_equal(digest, reward.collection_code_hash)


def seal_claim(reward_id: int, data: ClaimInput, finance_public: PublicKey,
               finance_id: int, store: KeyStore) -> tuple[bytes, bytes]:
    """The claim (inner layer under the reward's pad) sealed to finance and to escrow."""
    body = dict(asdict(data), v=CLAIM_VERSION, submitted_on=clock.now().date().isoformat())
    ensure_lock(RetentionKind.REWARD, reward_id)
    raw = encrypt_field(claim_key(reward_id),
                        json.dumps(body, ensure_ascii=False, sort_keys=True),
                        claim_inner_aad(reward_id))
    return (seal(raw, finance_public, claim_aad(reward_id, finance_id)),
            seal(raw, store.escrow_key, claim_escrow_aad(reward_id, store.escrow_current)))


def submit_claim(session: DbSession, reward_id: int, tip_id: int, data: ClaimInput,
                 cfg: Config | None = None) -> ClaimReceipt:
    """The tipster of `tip_id` claims the reward: eligible → claimed; commits.

    Raises InvalidClaim (nothing stored), FinanceUnavailable, or IllegalTransition /
    ClaimWindowClosed when the reward cannot be claimed any more.
    """
    cfg = cfg or current_app.config["CASEAPP"]
    try:
        clean, code = _claim(session, reward_id, tip_id, data, cfg)
    except BaseException:
        session.rollback()
        raise
    return ClaimReceipt(reward_id, clean.method, clean.office, code)


def _claim(session: DbSession, reward_id: int, tip_id: int, data: ClaimInput,
           cfg: Config) -> tuple[ClaimInput, str | None]:
    """The work of `submit_claim`; the caller rolls back on any error."""
    from ..jobs import enqueue
    from ..keys import keystore
    from .service import transition

    reward = session.get(Reward, reward_id)
    if reward is None or reward.tip_id != tip_id:
        raise NoSuchReward(str(reward_id))
    if reward.state != RewardState.ELIGIBLE:
        raise IllegalTransition("claim", reward.state)
    now = clock.now()
    if reward.claim_deadline <= now:
        raise ClaimWindowClosed("claim", reward.state)
    clean = validate_claim(data, cfg.reward_offices, now.date())
    dept = finance_department(session, cfg)
    if dept is None or not dept.public_key or not dept.active:
        raise FinanceUnavailable(cfg.finance_department)
    store = keystore()
    sealed, escrowed = seal_claim(reward_id, clean, PublicKey(dept.public_key), dept.id, store)
    reward_claimed(reward_id, reward.case_id)
    code = new_collection_code() if clean.method == PayoutMethod.IN_PERSON else None
    kid, digest = hash_collection_code(store, reward_id, code) if code else (None, None)
    transition(session, reward_id, action="claim", sources=[RewardState.ELIGIBLE],
               target=RewardState.CLAIMED, where=[Reward.claim_deadline > now,
                                                  Reward.tip_id == tip_id],
               values={"claimed_at": now, "claim_department_id": dept.id,
                       "claim_sealed": sealed, "claim_escrow": escrowed,
                       "claim_escrow_kid": store.escrow_current,
                       "collection_code_hash": digest, "collection_code_kid": kid})
    record("reward.claimed", object_type="reward", object_id=reward_id,
           detail={"case": reward.case_id})
    enqueue("rewards.notify_claim", reward_id=reward_id)
    session.commit()
    return clean, code


def open_claim(reward: Reward, keyring: object) -> ClaimDetails:
    """Open a claim with the finance department key from `keyring` (KeyUnavailable if none)."""
    if reward.claim_sealed is None or reward.claim_department_id is None:
        raise KeyUnavailable("no claim on this reward")
    key: PrivateKey = keyring.department_key(reward.claim_department_id)  # type: ignore[attr-defined]
    return open_claim_with(reward, key)


def open_claim_with(reward: Reward, department_key: PrivateKey) -> ClaimDetails:
    """Open a claim with a department private key; KeyUnavailable when it does not open."""
    if reward.claim_sealed is None or reward.claim_department_id is None:
        raise KeyUnavailable("no claim on this reward")
    return _open_copy(reward, reward.claim_sealed, department_key,
                      claim_aad(reward.id, reward.claim_department_id), "this key")


def open_claim_escrow(reward: Reward, escrow_private: PrivateKey) -> ClaimDetails:
    """Offline recovery: open the escrow copy of a claim."""
    if reward.claim_escrow is None or reward.claim_escrow_kid is None:
        raise KeyUnavailable("no claim on this reward")
    return _open_copy(reward, reward.claim_escrow, escrow_private,
                      claim_escrow_aad(reward.id, reward.claim_escrow_kid), "the escrow key")


def _open_copy(reward: Reward, sealed: bytes, key: PrivateKey, aad: str,
               holder: str) -> ClaimDetails:
    """Unseal one sealed copy of a claim, then its retention layer."""
    try:
        raw = unseal(sealed, key, aad)
    except DecryptionError as exc:
        raise KeyUnavailable(f"{holder} does not open the claim") from exc
    return _details(reward.id, raw)


def _details(reward_id: int, sealed: bytes) -> ClaimDetails:
    """Open the inner layer with the reward's pad (claims from before it: plain JSON)."""
    if sealed[:1] == b"{":
        raw = sealed
    else:
        try:
            raw = decrypt_field(claim_key(reward_id), sealed, claim_inner_aad(reward_id))
        except DecryptionError as exc:
            raise KeyUnavailable("the claim's retention layer does not open") from exc
    body = json.loads(raw)
    return ClaimDetails(payee_name=body["payee_name"], id_number=body["id_number"],
                        method=body["method"], bank_name=body.get("bank_name", ""),
                        account_number=body.get("account_number", ""),
                        office=body.get("office", ""),
                        submitted_on=body.get("submitted_on", ""))


def rewrap_claims_for_escrow(old_kid: str, old_private: PrivateKey, store: KeyStore) -> int:
    """`flask keys rotate-escrow`: re-seal escrow copies of claims to the current key."""
    ids = list(db.session.scalars(select(Reward.id).where(
        Reward.claim_escrow_kid == old_kid).order_by(Reward.id)))
    done = 0
    for reward_id in ids:
        reward = db.session.get(Reward, reward_id)
        if reward is None or reward.claim_escrow is None or reward.claim_escrow_kid != old_kid:
            continue
        raw = unseal(reward.claim_escrow, old_private, claim_escrow_aad(reward.id, old_kid))
        reward.claim_escrow = seal(raw, store.escrow_key,
                                   claim_escrow_aad(reward.id, store.escrow_current))
        reward.claim_escrow_kid = store.escrow_current
        record("reward.claim_escrow_rewrapped", object_type="reward", object_id=reward.id,
               detail={"from": old_kid, "to": store.escrow_current})
        db.session.commit()
        done += 1
    return done
