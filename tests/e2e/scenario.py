"""The whole life of a tip in a real browser, each actor in their own context, zh_CN UI.

Speaks only HTTP to `base_url`, so it runs against the in-process test server and against
gunicorn + rq alike; job effects are awaited by reloading pages (`poll`), never by sleeping.
"""

from __future__ import annotations

import io
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from PIL import Image
from playwright.sync_api import FilePayload, Page, expect

from .browser import Actor, Shots, chromium, follow, origin, poll, zh

MIN_FILL_SECONDS = 4.5  # the portal refuses forms sent faster than a person (4 s by default)
DISTRICT, TOWNSHIP = "411702", "411702007"
PAYEE, ID_NUMBER, CARD = "张三丰", "11010519491231002X", "6222020200112233446"


def utc_today() -> str:
    """Today's date as the app shows it (it keeps times in UTC)."""
    return datetime.now(UTC).date().isoformat()


@dataclass
class Figures:
    """The supervisor's headline figures."""

    tips: int
    cases: int
    rewards_paid: int


@dataclass
class ScenarioResult:
    """What the scenario saw, for the caller's report."""

    base_url: str
    out_dir: Path
    receipt: str = ""
    case_ref: str = ""
    payout_reference: str = ""
    before: Figures | None = None
    after: Figures | None = None
    audit_actions: list[str] = field(default_factory=list)
    citizen_requests: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def photo() -> bytes:
    """A small JPEG carrying EXIF (camera make and a GPS block) that the portal must scrub."""
    img = Image.new("RGB", (320, 240), (200, 120, 40))
    exif = Image.Exif()
    exif[0x010F] = "E2E-CAMERA"  # Make
    exif[0x8825] = {1: "N", 2: (32.0, 58.0, 0.0), 3: "E", 4: (114.0, 1.0, 0.0)}  # GPSInfo
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


def _figures(page: Page) -> Figures:
    """Read the three headline cards of the statistics page."""
    cards = page.locator("div.grid > div.card strong")
    tips = int(cards.nth(0).inner_text())
    cases = int(cards.nth(1).inner_text())
    paid_label = page.locator("div.grid > div.card").nth(4).inner_text()
    pattern = re.escape(zh("Rewards paid (%(n)d)")).replace(re.escape("%(n)d"), r"(\d+)")
    match = re.search(pattern, paid_label)
    assert match, f"no rewards-paid figure in {paid_label!r}"
    return Figures(tips, cases, int(match.group(1)))


class Scenario:
    """The steps, in order; each actor logs in in their own context."""

    def __init__(self, browser: object, base_url: str, shots: Shots) -> None:
        self.browser = browser
        self.base_url = base_url.rstrip("/")
        self.shots = shots
        self.marker = f"E2E-{secrets.token_hex(3).upper()}"
        self.place = f"康乐诊所 {self.marker}"
        self.case_url = ""
        self.actors: list[Actor] = []

    def actor(self, name: str, *, javascript: bool = True) -> Actor:
        """A new person with their own browser context."""
        made = Actor(self.browser, self.base_url, self.shots, name,  # type: ignore[arg-type]
                     javascript=javascript)
        self.actors.append(made)
        return made

    def staff(self, username: str) -> Actor:
        """A staff member, logged in."""
        person = self.actor(username)
        person.login(username)
        return person

    # -- citizen ---------------------------------------------------------------------
    def submit_tip(self, citizen: Actor) -> str:
        """The citizen reports with a photo (JavaScript off) and keeps the receipt."""
        page = citizen.goto("/")
        citizen.shot("citizen-portal")
        follow(page.get_by_role("link", name=zh("Make a report")))
        started = time.monotonic()
        page.locator("input[name=category][value=sex_identification]").check()
        page.get_by_label(zh("Name of the clinic, pharmacy or person")).fill(self.place)
        page.get_by_label(zh("Address or description of the place")).fill("驿城区 解放路 88 号")
        page.get_by_label(zh("District or county")).select_option(DISTRICT)
        page.get_by_label(zh("Township or street (if you know it)")).select_option(TOWNSHIP)
        page.get_by_label(zh("When did it happen?")).fill("2026年3月")
        page.get_by_label(zh("Tell us what happened")).fill(
            f"诊所医生用B超鉴定胎儿性别，收费2000元。{self.marker}")
        page.get_by_label(zh("Photos, recordings, videos or documents")).set_input_files(
            [FilePayload(name="clinic.jpg", mimeType="image/jpeg", buffer=photo())])
        citizen.shot("citizen-report-form")
        page.wait_for_timeout(max(0.0, MIN_FILL_SECONDS - (time.monotonic() - started)) * 1000)
        follow(page.get_by_role("button", name=zh("Send report")))
        expect(page.get_by_role("heading", name=zh("Your report has been received"))) \
            .to_have_count(1)
        receipt = re.sub(r"\D", "", page.locator(".receipt").inner_text())
        assert len(receipt) == 28, receipt
        scrubbed = f"clinic.jpg — {zh('hidden information removed')}"
        expect(page.get_by_text(scrubbed)).to_have_count(1)
        citizen.shot("citizen-receipt")
        follow(page.get_by_role("button", name=zh("Leave")))
        return receipt

    def open_with_receipt(self, citizen: Actor, receipt: str) -> Page:
        """The citizen comes back later and types the receipt."""
        page = citizen.goto("/")
        follow(page.get_by_role("link", name=zh("I have a receipt number")))
        grouped = " ".join(receipt[i:i + 4] for i in range(0, len(receipt), 4))
        page.get_by_label(zh("Your receipt number")).fill(grouped)
        follow(page.get_by_role("button", name=zh("Open")))
        expect(page.get_by_role("heading", name=zh("Your report"))).to_have_count(1)
        return page

    def citizen_answers(self, citizen: Actor, receipt: str, question: str, answer: str) -> None:
        """The citizen reads the question and answers it."""
        page = self.open_with_receipt(citizen, receipt)
        poll(page, lambda: page.get_by_text(question).count() > 0, "the question")
        citizen.shot("citizen-sees-question")
        page.get_by_label(zh("Your message")).fill(answer)
        follow(page.get_by_role("button", name=zh("Send"), exact=True))
        expect(page.locator(".msg-tipster").filter(has_text=answer)).to_have_count(1)
        citizen.shot("citizen-answered")
        follow(page.get_by_role("button", name=zh("Leave")))

    def citizen_claims(self, citizen: Actor, receipt: str) -> None:
        """The citizen sees the verified outcome and the reward, and claims it."""
        page = self.open_with_receipt(citizen, receipt)
        text = zh("Your report was verified. A reward is available: claim it with your receipt.")
        poll(page, lambda: page.get_by_text(text).count() > 0, "the verified outcome")
        follow(page.get_by_role("link", name=zh("See the reward status")))
        expect(page.get_by_text(zh("Amount: %(amount)s yuan.", amount="10,000"))).to_have_count(1)
        citizen.shot("citizen-sees-reward")
        page.get_by_label(zh("Name of the payee (as on the ID card)")).fill(PAYEE)
        page.get_by_label(zh("ID card number (18 characters)")).fill(ID_NUMBER)
        page.locator("input[name=method][value=bank]").check()
        page.get_by_label(zh("Bank and branch")).fill("中国工商银行 驻马店分行")
        page.get_by_label(zh("Account or card number")).fill(CARD)
        follow(page.get_by_role("button", name=zh("Send the claim")))
        expect(page.get_by_role("heading", name=zh("Claim received"))).to_have_count(1)
        citizen.shot("citizen-claimed")
        follow(page.get_by_role("link", name=zh("See the reward status")))
        claimed_on = zh("Claim received on %(date)s.", date=utc_today())
        expect(page.get_by_text(claimed_on)).to_have_count(1)
        follow(page.get_by_role("link", name=zh("Back to your report")))
        follow(page.get_by_role("button", name=zh("Leave")))

    def citizen_sees_paid(self, citizen: Actor, receipt: str) -> None:
        """After payment the citizen's reward page says it was paid."""
        page = self.open_with_receipt(citizen, receipt)
        follow(page.get_by_role("link", name=zh("See the reward status")))
        paid_on = zh("Paid on %(date)s.", date=utc_today())
        poll(page, lambda: page.get_by_text(paid_on).count() > 0, "the paid reward")
        citizen.shot("citizen-sees-paid")

    # -- staff -----------------------------------------------------------------------
    def promote(self, intake: Actor) -> str:
        """Intake finds the tip in the queue, reads it and opens a case; returns its ref."""
        page = intake.nav(zh("Intake queue"))
        row = page.locator("tr").filter(has_text=self.marker)
        poll(page, lambda: row.count() == 1, "the tip in the intake queue")
        intake.shot("intake-queue")
        follow(row.get_by_role("link").first)
        expect(page.get_by_text(self.marker).first).to_be_visible()  # the decrypted report
        expect(page.get_by_text("clinic.jpg")).to_have_count(1)
        page.get_by_label(zh("Case title")).fill(f"康乐诊所 非法鉴定胎儿性别 {self.marker}")
        page.get_by_label(zh("Summary")).fill("举报人称诊所以B超鉴定胎儿性别。")
        page.get_by_label(zh("Lead department")).select_option(label="卫生健康委")
        page.locator("form").filter(has=page.get_by_label(zh("Case title"))) \
            .get_by_label(zh("Reason")).fill("线索具体，可以核查。")
        intake.shot("intake-tip")
        follow(page.get_by_role("button", name=zh("Open the case")))
        flash = page.locator(".flash").filter(has_text=re.compile(r"C-\d{4}-\d+"))
        expect(flash).to_have_count(1)  # back on the queue, told which case was opened
        ref = re.search(r"C-\d{4}-\d+", flash.inner_text())
        assert ref, "no case reference after promoting"
        intake.shot("intake-promoted")
        return ref.group(0)

    def open_case(self, person: Actor, case_ref: str) -> Page:
        """Open the case from the case list."""
        page = person.nav(zh("Cases"))
        follow(page.get_by_role("link", name=case_ref).first)
        expect(page.get_by_role("heading", level=1).filter(has_text=case_ref)).to_have_count(1)
        return page

    def add_joint_department(self, lead: Actor, case_ref: str) -> None:
        """The lead starts the investigation and adds public security as a joint department."""
        page = self.open_case(lead, case_ref)
        start = page.get_by_role("button", name=zh("Start the investigation"))
        if start.count():
            follow(start)
        section = page.locator("#departments")
        section.get_by_label(zh("Department")).select_option(label="公安局")
        follow(section.get_by_role("button", name=zh("Add joint department")))
        expect(page.locator("#departments li").filter(has_text="公安局")).to_have_count(1)
        lead.shot("lead-joint-department")

    def investigate(self, inv: Actor, case_ref: str, question: str) -> None:
        """The joint investigator adds a task, a note and a joint action, and asks a question."""
        page = self.open_case(inv, case_ref)
        expect(page.locator("#tips").get_by_text(self.marker).first).to_be_visible()  # tip readable
        tasks = page.locator("#tasks")
        tasks.get_by_label(zh("Task")).fill("核实诊所执业许可")
        tasks.get_by_label(zh("Details")).fill("调取卫生许可档案。")
        tasks.get_by_label(zh("Due on")).fill((date.today() + timedelta(days=7)).isoformat())
        follow(tasks.get_by_role("button", name=zh("Add task")))
        expect(page.locator("#tasks").get_by_text("核实诊所执业许可")).to_have_count(1)
        notes = page.locator("#notes")
        notes.get_by_label(zh("Text")).fill(f"内部记录：诊所周二营业。{self.marker}")
        follow(notes.get_by_role("button", name=zh("Add note")))
        expect(page.locator("#notes").get_by_text("内部记录：诊所周二营业。")).to_have_count(1)
        actions = page.locator("#actions")
        actions.get_by_label(zh("Planned date")).fill((date.today() + timedelta(days=3))
                                                      .isoformat())
        actions.get_by_label(zh("Target premises")).fill("康乐诊所 解放路88号")
        for box in actions.locator("input[type=checkbox]").all():
            box.check()
        actions.get_by_label(zh("People taking part")).fill("卫健执法二人，民警二人")
        follow(actions.get_by_role("button", name=zh("Plan joint action")))
        expect(page.locator("#actions").get_by_text("康乐诊所 解放路88号").first).to_be_visible()
        messages = page.locator("#messages")
        messages.get_by_label(zh("Text")).fill(question)
        follow(messages.get_by_role("button", name=zh("Send to the tipster")))
        expect(page.locator("#messages").get_by_text(question)).to_have_count(1)
        inv.shot("investigator-case")

    def investigator_reads_answer(self, inv: Actor, answer: str) -> None:
        """The investigator sees the tipster's answer in the case."""
        page = inv.page
        page.reload()
        poll(page, lambda: page.locator("#messages").get_by_text(answer).count() > 0,
             "the tipster's answer")
        inv.shot("investigator-reads-answer")

    def propose(self, lead: Actor, case_ref: str) -> None:
        """The lead proposes a substantiated disposition with a fine."""
        page = self.open_case(lead, case_ref)
        form = page.locator("#disposition form")
        form.get_by_label(zh("Outcome")).select_option("substantiated")
        form.get_by_label(zh("Legal basis")).fill(
            "《禁止非医学需要的胎儿性别鉴定和选择性别人工终止妊娠的规定》第二十三条")
        form.get_by_label(zh("Summary")).fill("查实诊所非法鉴定胎儿性别，罚款三万元。")
        for box in form.locator("input[type=checkbox]").all():
            box.check()
        form.locator("select[name=measure-0-kind]").select_option("fine")
        form.locator("input[name=measure-0-amount]").fill("30000")
        follow(form.get_by_role("button", name=zh("Propose")))
        expect(page.locator("#disposition").get_by_text(zh("Substantiated")).first).to_be_visible()
        lead.shot("lead-proposed")

    def approve_disposition(self, lead2: Actor, case_ref: str) -> None:
        """Another lead approves the disposition, which closes the case."""
        page = self.open_case(lead2, case_ref)
        follow(page.get_by_role("button", name=zh("Approve and close")))
        expect(page.get_by_text(zh("This case is closed and read-only."))).to_have_count(1)
        lead2.shot("lead2-approved")

    def open_reward(self, person: Actor, case_ref: str) -> Page:
        """Finance opens the reward of the case from the rewards queue (all states)."""
        page = person.nav(zh("Rewards"))
        follow(page.get_by_role("link", name=zh("All"), exact=True))
        link = page.get_by_role("link", name=case_ref)
        poll(page, lambda: link.count() > 0, "the reward in the finance queue")
        follow(link.first)
        return page

    def finance_verify(self, officer: Actor, case_ref: str) -> None:
        """The finance officer reads the claim and verifies it."""
        page = self.open_reward(officer, case_ref)
        poll(page, lambda: page.get_by_text(PAYEE).count() > 0, "the claim")
        officer.shot("finance-claim")
        follow(page.get_by_role("button", name=zh("Verify the claim")))
        expect(page.locator(".badge").filter(has_text=zh("Verified")).first).to_be_visible()
        officer.shot("finance-verified")

    def finance_approve_and_pay(self, approver: Actor, case_ref: str, reference: str) -> None:
        """A second finance user approves and records the payment; the ledger shows it."""
        page = self.open_reward(approver, case_ref)
        follow(page.get_by_role("button", name=zh("Approve the payout")))
        form = page.locator("form").filter(has=page.get_by_role(
            "button", name=zh("Record the payout")))
        form.get_by_label(zh("Payout method")).select_option("bank")
        form.get_by_label(zh("Payout reference (voucher or bank transaction number)")) \
            .fill(reference)
        form.get_by_label(zh("Payment date")).fill(date.today().isoformat())
        follow(form.get_by_role("button", name=zh("Record the payout")))
        expect(page.get_by_text(reference).first).to_be_visible()
        approver.shot("finance-paid")
        page = approver.nav(zh("Payout ledger"))
        expect(page.locator("tr").filter(has_text=reference).filter(has_text="10,000")).to_have_count(1)
        approver.shot("finance-ledger")

    def stats(self, supervisor: Actor, step: str,
              moved: Callable[[Figures], bool] | None = None) -> Figures:
        """The supervisor recalculates the statistics and reads the figures."""
        page = supervisor.nav(zh("Statistics"))
        follow(page.get_by_role("button", name=zh("Recalculate now")))
        if moved is not None:
            poll(page, lambda: moved(_figures(page)), "the statistics to change")
        supervisor.shot(step)
        return _figures(page)

    def audit(self, auditor: Actor, expected: list[tuple[str, str]]) -> list[str]:
        """The auditor pages through the log and finds each step's action by the right person."""
        page = auditor.nav(zh("Audit log"))
        auditor.shot("auditor-log")
        deadline = time.monotonic() + 30
        while True:
            seen = self._audit_rows(page)
            missing = [(a, who) for a, who in expected if not any(
                action == a and (not who or actor.split(" (")[0] == who) for action, actor in seen)]
            if not missing:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"not in the audit log: {missing}; seen: {sorted(set(seen))}")
            page.wait_for_timeout(1000)
            page = auditor.nav(zh("Audit log"))
        page.get_by_label(zh("Action")).fill("reward.paid")
        follow(page.get_by_role("button", name=zh("Filter")))
        expect(page.locator("table.audit code", has_text="reward.paid")).to_have_count(1)
        auditor.shot("auditor-filtered")
        return [a for a, _who in expected]

    @staticmethod
    def _audit_rows(page: Page) -> list[tuple[str, str]]:
        """(action, user) of every entry, following the "Older" links."""
        rows: list[tuple[str, str]] = []
        while True:
            for row in page.locator("table.audit tbody tr").all():
                cells = row.locator("td")
                rows.append((cells.nth(3).inner_text().strip(), cells.nth(2).inner_text()))
            older = page.get_by_role("link", name=zh("Older"))
            if not older.count():
                return rows
            follow(older)


AUDIT_STEPS: list[tuple[str, str]] = [
    ("tip.acknowledged", "intake"), ("content.opened", "intake"), ("tip.decided", "intake"),
    ("case.created", "intake"), ("case.state_changed", "lead"), ("case.department_added", "lead"),
    ("content.opened", "investigator2"),
    ("case.task_added", "investigator2"), ("case.note_added", "investigator2"),
    ("case.action_planned", "investigator2"), ("case.tipster_messaged", "investigator2"),
    ("tip.message_posted", "investigator2"),
    ("case.disposition_proposed", "lead"), ("case.disposition_approved", "lead2"),
    ("reward.eligible", ""), ("reward.claimed", ""),
    ("reward.claim_opened", "finance_officer"), ("reward.verified", "finance_officer"),
    ("reward.approved", "finance_approver"), ("reward.paid", "finance_approver"),
]


def run_scenario(base_url: str, out_dir: Path, *,
                 refresh_stats: Callable[[], None] | None = None) -> ScenarioResult:
    """Walk a tip from report to payout through the UI; raise AssertionError on any failure.

    `refresh_stats` is an optional hook called before each statistics reading (the page's
    own "Recalculate now" button is always used as well).
    """
    began = time.monotonic()
    result = ScenarioResult(base_url=base_url, out_dir=out_dir)
    shots = Shots(out_dir)
    with chromium() as browser:
        run = Scenario(browser, base_url, shots)
        try:
            supervisor = run.staff("supervisor")
            if refresh_stats:
                refresh_stats()
            result.before = run.stats(supervisor, "supervisor-before")
            citizen = run.actor("citizen", javascript=False)
            result.receipt = receipt = run.submit_tip(citizen)
            result.case_ref = case_ref = run.promote(run.staff("intake"))
            lead = run.staff("lead")
            run.add_joint_department(lead, case_ref)
            inv = run.staff("investigator2")
            question = f"请问诊所的营业时间？{run.marker}"
            answer = f"每周二上午营业。{run.marker}"
            run.investigate(inv, case_ref, question)
            run.citizen_answers(citizen, receipt, question, answer)
            run.investigator_reads_answer(inv, answer)
            run.propose(lead, case_ref)
            run.approve_disposition(run.staff("lead2"), case_ref)
            run.citizen_claims(citizen, receipt)
            run.finance_verify(run.staff("finance_officer"), case_ref)
            result.payout_reference = f"PZ-{run.marker}"
            run.finance_approve_and_pay(run.staff("finance_approver"), case_ref,
                                        result.payout_reference)
            run.citizen_sees_paid(citizen, receipt)
            if refresh_stats:
                refresh_stats()
            before = result.before
            result.after = run.stats(supervisor, "supervisor-after", lambda f: (
                f.tips > before.tips and f.cases > before.cases
                and f.rewards_paid > before.rewards_paid))
            result.audit_actions = run.audit(run.staff("auditor"), AUDIT_STEPS)
            result.citizen_requests = list(citizen.requests)
            foreign = [u for u in citizen.requests if origin(u) != origin(base_url)]
            assert not foreign, f"citizen pages requested other origins: {foreign}"
            assert result.citizen_requests, "no citizen requests recorded"
        except Exception:
            for person in run.actors:  # what each person saw when it failed
                shots.take(person.page, f"FAILED-{person.name}")
            raise
        finally:
            result.screenshots = list(shots.paths)
            result.seconds = time.monotonic() - began
            for person in run.actors:
                person.close()
    return result
