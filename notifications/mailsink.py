"""A local mail sink for the demo: an SMTP server on loopback that keeps each message as
an `.eml` file (open it in any mail program) and prints its subject.

`python -m notifications.mailsink DIR [PORT]`. Only for the local profile: production
mail goes through the configured SMTP account.
"""

from __future__ import annotations

import email
import sys
import time
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class KeepToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.count = len(list(folder.glob("*.eml")))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        path = self.folder / f"{self.count:05d}.eml"
        path.write_bytes(envelope.content)
        message = email.message_from_bytes(envelope.content, policy=default)
        print(f"{path.name}: {message['To']} — {message['Subject']}", flush=True)
        return "250 Message accepted for delivery"


def main(argv: list[str]) -> None:
    folder = Path(argv[0])
    port = int(argv[1]) if len(argv) > 1 else 8025
    controller = Controller(KeepToFolder(folder), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        controller.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
