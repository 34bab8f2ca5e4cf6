"""Every user-facing string has a zh_CN translation; zh_CN is the default, English the second."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

# Babel parses "zh_CN" as zh_Hans_CN, so the zh_CN catalogue lives in translations/zh_Hans_CN.

ROOT = Path(__file__).resolve().parent.parent


def test_zh_cn_catalogue_covers_every_string_in_the_code(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-o", str(pot), "."],
                   cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as fh:
        source = {m.id for m in read_po(fh) if m.id}
    with (ROOT / "caseapp/translations/zh_Hans_CN/LC_MESSAGES/messages.po").open("rb") as fh:
        zh = {m.id: m for m in read_po(fh) if m.id}
    missing = sorted(str(i) for i in source if i not in zh or not zh[i].string
                     or zh[i].fuzzy)
    assert missing == [], f"untranslated: {missing[:10]}"


def test_portal_is_chinese_by_default_and_english_on_request(config) -> None:
    from caseapp import create_app

    client = create_app(config.with_(default_locale="zh_CN")).test_client()
    zh = client.get("/").get_data(as_text=True)
    en = client.get("/?lang=en")
    assert "举报" in zh and 'lang="zh-CN"' in zh
    body = en.get_data(as_text=True)
    assert 'lang="en"' in body and "Report" in body
    assert "Set-Cookie" not in en.headers  # the language choice sets no cookie
    assert "lang=en" in body  # links keep the choice
