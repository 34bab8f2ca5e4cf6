"""A finance notice about a claim links straight to the reward."""

from caseapp.notify.views import target_url


def test_reward_notice_points_to_the_reward_page(app):
    with app.test_request_context("/"):
        assert target_url("reward", "5") == "/staff/rewards/5"
