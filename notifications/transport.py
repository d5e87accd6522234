"""The SMTP account all e-mail goes through (a part of the settings: `[mail]`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr


class MailTransport(BaseModel):
    """The one SMTP account all e-mail goes through."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8025
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    ssl: bool = False
    sender: str = "phoihop@localhost"
    sender_name: str = "phoihop"
    timeout_seconds: float = 20.0

    def masked(self) -> str:
        """`smtp://user:***@host:port`, the password never shown."""
        from urllib.parse import quote

        user = ""
        if self.username:  # an e-mail address as user name: `user%40host`, a valid URL
            user = quote(self.username, safe="") + (":***" if self.password else "") + "@"
        return f"smtp://{user}{self.host}:{self.port}"


