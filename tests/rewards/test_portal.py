"""The tipster's reward page: status with the receipt, the claim form, wrong receipts."""

from __future__ import annotations

import html
from datetime import timedelta

from sqlalchemy import select

from caseapp import clock
from caseapp.extensions import db
from caseapp.rewards.claims import check_collection_code
from caseapp.rewards.models import Reward

from .helpers import (
    CARD,
    ID_X,
    PAYEE,
    csrf_of,
    make_reward,
    make_tip,
    receipt_login,
)

PAGE = "/follow-up/reward"


def _reward_for_new_tip(app, config, case_id=1):
    with app.app_context():
        tip, receipt = make_tip()
        reward_id = make_reward(config, [tip], case_id=case_id)
        db.session.remove()
    return reward_id, receipt


def _form(**over):
    data = {"payee_name": PAYEE, "id_number": ID_X, "method": "bank",
            "bank_name": "中国工商银行 驻马店分行", "account_number": CARD, "office": ""}
    data.update(over)
    return data


def _post_claim(client, **over):
    page = client.get(PAGE)
    assert page.status_code == 200
    return client.post(PAGE, data=dict(_form(**over),
                                       csrf_token=csrf_of(page.get_data(as_text=True))))


def _state(app, reward_id):
    with app.app_context():
        return db.session.get(Reward, reward_id).state


def test_without_receipt_session_the_page_asks_for_the_receipt(app, client, world):
    resp = client.get(PAGE)
    assert resp.status_code == 401
    assert "/follow-up" in resp.get_data(as_text=True)
    assert client.post(PAGE, data=_form()).status_code == 401


def test_wrong_receipt_is_refused(app, client, world, config):
    reward_id, receipt = _reward_for_new_tip(app, config)
    wrong = receipt[:-2] + ("00" if receipt[-2:] != "00" else "11")
    assert receipt_login(client, wrong).status_code == 400
    assert client.get(PAGE).status_code == 401
    assert client.post(PAGE, data=_form()).status_code == 401
    assert _state(app, reward_id) == "eligible"


def test_reward_available_until_when_and_what_next(app, client, world, config):
    reward_id, receipt = _reward_for_new_tip(app, config)
    assert receipt_login(client, receipt).status_code == 303
    page = client.get(PAGE)
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    with app.app_context():
        deadline = db.session.get(Reward, reward_id).claim_deadline
    assert deadline.strftime("%Y-%m-%d") in text
    assert "10,000" in text
    assert "90 days left" in text or "89 days left" in text
    assert "What happens next" in text
    assert "days are left to claim" not in text  # no reminder yet
    clock.move(timedelta(days=80))
    receipt_login(client, receipt)  # the portal session timed out meanwhile
    text = client.get(PAGE).get_data(as_text=True)
    assert "days are left to claim this reward" in text


def test_tip_without_reward_says_so(app, client, world, config):
    with app.app_context():
        _, receipt = make_tip()
    receipt_login(client, receipt)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "There is no reward for this report" in page.get_data(as_text=True)
    assert client.post(PAGE, data=dict(_form(), csrf_token=csrf_of(
        client.get("/follow-up/tip").get_data(as_text=True)))).status_code == 404


def test_wrong_fields_keep_everything_typed_and_say_what_is_wrong(app, client, world, config):
    reward_id, receipt = _reward_for_new_tip(app, config)
    receipt_login(client, receipt)
    resp = _post_claim(client, id_number="110105194912310021", account_number="6222 0202 0011 "
                       "2233 447", bank_name="")
    text = html.unescape(resp.get_data(as_text=True))
    assert resp.status_code == 400
    assert "This ID card number is not valid" in text
    assert "This card number is not valid" in text
    assert "Please fill in this field." in text
    assert 'value="张三丰"' in text
    assert 'value="110105194912310021"' in text
    assert 'value="6222 0202 0011 2233 447"' in text
    assert "Everything you typed is still here" in text
    assert _state(app, reward_id) == "eligible"
    resp = _post_claim(client, method="in_person", office="Nowhere")
    assert resp.status_code == 400
    assert "Please choose one of the listed offices." in resp.get_data(as_text=True)


def test_bank_claim_with_receipt(app, client, world, config):
    reward_id, receipt = _reward_for_new_tip(app, config)
    receipt_login(client, receipt)
    resp = _post_claim(client)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Claim received" in text
    assert "collection-code" not in text
    assert _state(app, reward_id) == "claimed"
    text = client.get(PAGE).get_data(as_text=True)
    assert "We have received your claim" in text and "Send the claim" not in text
    assert PAYEE not in text and CARD not in text  # the portal does not echo the claim back
    again = client.post(PAGE, data=dict(_form(), csrf_token=csrf_of(
        client.get("/follow-up/tip").get_data(as_text=True))))
    assert again.status_code == 409


def test_in_person_claim_shows_the_collection_code_once(app, client, world, config):
    reward_id, receipt = _reward_for_new_tip(app, config)
    receipt_login(client, receipt)
    resp = _post_claim(client, method="in_person", office=config.reward_offices[0],
                       bank_name="", account_number="")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200
    start = text.index('id="collection-code">') + len('id="collection-code">')
    code = text[start:text.index("<", start)].strip()
    assert len(code) == 14
    assert config.reward_offices[0] in text
    assert code not in client.get(PAGE).get_data(as_text=True)
    with app.app_context():
        reward = db.session.get(Reward, reward_id)
        assert check_collection_code(reward, code)
        assert not check_collection_code(reward, "ABCD-EFGH-JKMN")


def test_another_tipster_cannot_see_or_claim_this_reward(app, client, world, config):
    reward_id, _ = _reward_for_new_tip(app, config)
    with app.app_context():
        _, other_receipt = make_tip()
    receipt_login(client, other_receipt)
    assert "There is no reward" in client.get(PAGE).get_data(as_text=True)
    assert _state(app, reward_id) == "eligible"


def test_expired_and_withheld_states_in_plain_words(app, client, world, config):
    reward_id, receipt = _reward_for_new_tip(app, config)
    clock.move(timedelta(days=91))
    receipt_login(client, receipt)
    resp = _post_claim(client)
    assert resp.status_code == 409
    assert "deadline for claiming this reward has passed" in resp.get_data(as_text=True)
    with app.app_context():
        from caseapp.rewards import service

        service.expire_due(db.session)
        db.session.commit()
        assert db.session.scalar(select(Reward.state)) == "expired"
    assert "has expired" in client.get(PAGE).get_data(as_text=True)
