from __future__ import annotations

import random

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifiers.errors import PermanentError, RetryableError
from notifiers.http import raise_for_response, retry_after_seconds
from notifiers.retry import BACKOFF_SECONDS, backoff_delay
from runtime.redact import REDACTED, redact_url, scrub, url_secrets


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        (
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
            "693a91f6",
        ),
        ("https://oapi.dingtalk.com/robot/send?access_token=abc123def456ghi789", "abc123def456"),
        ("https://open.feishu.cn/open-apis/bot/v2/hook/2f3e4d5c-6b7a-8901-2345-6789abcdef01", "2f3e4d5c"),
        ("https://hooks.slack.com/services/T0000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "XXXXXXXXXXXX"),
        ("https://user:pa55word@example.com/hook", "pa55word"),
    ],
)
def test_vendor_urls_are_redacted(url: str, secret: str) -> None:
    shown = redact_url(url)
    assert secret not in shown
    assert shown.startswith("https://")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=12, max_size=64))
def test_any_token_in_query_or_path_is_hidden(token: str) -> None:
    assert token not in redact_url(f"https://h.example/a/{token}?key={token}")


def test_scrub_removes_known_secrets_from_text() -> None:
    assert scrub("failed to reach https://x/?key=s3cr3t: s3cr3t", ["s3cr3t"]) == (
        f"failed to reach https://x/?key={REDACTED}: {REDACTED}"
    )


def test_backoff_grows_and_honours_retry_after() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, rng=rng) for n in range(1, 10)]
    assert delays[0] < delays[3] < delays[-1] <= BACKOFF_SECONDS[-1] * 1.2
    assert backoff_delay(1, retry_after=42, rng=rng) == 42


def test_retry_after_in_both_forms() -> None:
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert retry_after_seconds("soon") is None


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (200, None),
        (204, None),
        (429, RetryableError),
        (503, RetryableError),
        (400, PermanentError),
        (404, PermanentError),
    ],
)
def test_http_status_classification(status: int, error: type[Exception] | None) -> None:
    response = httpx.Response(
        status, headers={"retry-after": "3"}, text="token=SECRET", request=httpx.Request("POST", "http://x")
    )
    if error is None:
        raise_for_response(response, target="t", secrets=["SECRET"])
        return
    with pytest.raises(error) as caught:
        raise_for_response(response, target="t", secrets=["SECRET"])
    assert "SECRET" not in str(caught.value)
    if isinstance(caught.value, RetryableError):
        assert caught.value.retry_after == 3


def test_url_secrets_cover_everything_redaction_hides() -> None:
    url = "https://bot:pw-123@h.example/hook/abcdefghijklmnop?key=k-1&sign=s-2"
    secrets = url_secrets(url)
    assert {"pw-123", "abcdefghijklmnop", "k-1", "s-2"} <= set(secrets)
    assert scrub(f"echo key=k-1 sign=s-2 at {url}", secrets).count(REDACTED) == 3


def test_log_lines_are_scrubbed_of_registered_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from runtime.log import register_secrets, setup_logging

    setup_logging("INFO")
    register_secrets(["tok-abc-123"])
    logging.getLogger("some.library").info("POST https://x/?access_token=%s", "tok-abc-123")
    assert "tok-abc-123" not in capsys.readouterr().err
