"""Other channels through Apprise (Telegram, Zalo webhooks, …): URLs or configured names."""

from __future__ import annotations

import logging

import apprise

from notifications.port import DeliveryError, Message


class AppriseNotifier:
    """Sends to one Apprise URL per message; only masked URLs are ever logged or raised."""

    def __init__(self, named: dict[str, str]) -> None:
        self.named = named

    def resolve(self, channel: str) -> str:
        return self.named.get(channel, channel)

    def masked(self, channel: str) -> str:
        url = self.resolve(channel)
        plugin = apprise.Apprise.instantiate(url)
        return plugin.url(privacy=True) if plugin else "(invalid channel URL)"

    def send(self, message: Message) -> None:
        url = self.resolve(message.to_address)
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
