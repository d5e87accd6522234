"""Other channels through Apprise (Telegram, Zalo webhooks, …): URLs or configured names."""

from __future__ import annotations

import logging
import re

import apprise

from notifications.port import DeliveryError, Message


class _Scrub(logging.Filter):
    """Masks the parts of the channel URLs in use in every record of Apprise's logger.

    Apprise logs URLs in full, tokens included ("Telegram POST URL:
    https://api.telegram.org/bot<token>/sendMessage" at DEBUG, "Unparseable Telegram URL
    <url>" at ERROR), to whatever handlers the process gave it: a DEBUG root logger,
    Prefect's extra loggers (PREFECT_LOGGING_EXTRA_LOGGERS=apprise: the flow-run logs in
    the UI). A logger filter runs before any handler, so none of them gets the token.
    """

    def __init__(self) -> None:
        super().__init__()
        self.parts: set[str] = set()

    def add(self, url: str) -> None:
        self.parts.update(p for p in re.split(r"[/@:?&=]+", url.split("://", 1)[-1])
                          if len(p) >= 6)  # a token, a password, an id

    def scrub(self, text: str) -> str:
        for part in sorted(self.parts, key=len, reverse=True):
            text = text.replace(part, f"{part[0]}***{part[-1]}")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg, record.args = self.scrub(record.getMessage()), None
            if record.exc_info:
                record.exc_text = self.scrub(logging.Formatter().formatException(
                    record.exc_info))
        except Exception:  # a malformed record is the handler's business, not ours
            pass
        return True


_SCRUB = _Scrub()
logging.getLogger("apprise").addFilter(_SCRUB)


class AppriseNotifier:
    """Sends to one Apprise URL per message; only masked URLs are ever logged or raised."""

    def __init__(self, named: dict[str, str]) -> None:
        self.named = named
        for url in named.values():
            _SCRUB.add(url)

    def resolve(self, channel: str) -> str:
        return self.named.get(channel, channel)

    def masked(self, channel: str) -> str:
        url = self.resolve(channel)
        _SCRUB.add(url)
        plugin = apprise.Apprise.instantiate(url)
        return plugin.url(privacy=True) if plugin else "(invalid channel URL)"

    def send(self, message: Message) -> None:
        url = self.resolve(message.to_address)
        _SCRUB.add(url)
        notifier = apprise.Apprise()
        if not notifier.add(url):
            raise DeliveryError(f"not a usable Apprise URL: {self.masked(message.to_address)}",
                                permanent=True)
        with apprise.LogCapture(level=logging.WARNING) as logs:
            ok = notifier.notify(title=message.subject, body=message.text)
        if not ok:
            captured = logs.getvalue().strip().replace(url, self.masked(message.to_address))
            raise DeliveryError(f"{self.masked(message.to_address)}: {captured[-300:]}")

    def close(self) -> None:
        return None
