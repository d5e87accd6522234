"""Channel secrets sealed at rest: an inline Apprise URL (`mailto://user:pass@host`,
`tgram://BOTTOKEN/CHATID`) is never stored readable.

The spec accepts secrets written inline in an agreement's `channels`; the database keeps
them sealed with a key derived from the App's secret key (the one that turns link nonces
into tokens: `<data dir>/secret.key` or the setting `secret_key`): AES-SIV under
HKDF-SHA256(secret key, info "phoihop channel secrets"). A sealed value reads
`sealed://v1/<base64url>`: it still has the `://` of an inline channel, so a stored
agreement file whose channels were sealed in place parses as it did, without the key.

Sealing is deterministic (SIV: the same URL under the same key seals the same), so equal
channels stay equal: a contact is recognised on re-import, messages to one channel are
grouped, and nothing is sealed twice. Only equality shows; nothing of the URL does.

Where sealed values are kept and opened (docs/storage.md): `Contact.channels` and the
outbox rows' `recipient` (models.store, models.outbox), the inline URLs of
`Agreement.source` (sealed where they are written); opened only by the send loop before
the channel gets the message (notifications.send). Values not sealed (e-mail addresses,
named channels, rows stored before sealing existed) pass through `unseal` unchanged.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core.yamlnodes import LOADER

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

PREFIX = "sealed://v1/"
INFO = b"phoihop channel secrets"


class SealBroken(ValueError):
    """A sealed value the current secret key cannot open: the key changed since it was
    sealed (or the value was altered)."""

    def __init__(self) -> None:
        super().__init__(
            "kênh gửi tin đã niêm phong không mở được bằng khóa bí mật hiện tại: khóa "
            "(<data_dir>/secret.key hoặc cài đặt secret_key) đã đổi từ khi lưu kênh / a sealed "
            "channel cannot be opened with the current secret key: the key (<data_dir>/"
            "secret.key or the setting secret_key) changed since the channel was stored")


def is_inline(channel: str) -> bool:
    """An Apprise URL written in the agreement file (a configured channel is a name)."""
    return "://" in channel


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


@functools.lru_cache(maxsize=8)
def _cipher(secret_key: bytes) -> AESSIV:
    # imported when first sealing or opening: an import that seals nothing pays nothing
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=INFO).derive(secret_key)
    return AESSIV(key)


def seal(secret_key: bytes, value: str) -> str:
    """`value` sealed if it is an inline URL not sealed yet; anything else unchanged."""
    if not is_inline(value) or is_sealed(value):
        return value
    data = _cipher(secret_key).encrypt(value.encode(), None)
    return PREFIX + base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def seal_all(secret_key: bytes, channels: Iterable[str]) -> list[str]:
    return [seal(secret_key, ch) for ch in channels]


def unseal(secret_key: bytes, value: str) -> str:
    """The value a sealed one holds (others unchanged); SealBroken if the key cannot open
    it."""
    if not is_sealed(value):
        return value
    from cryptography.exceptions import InvalidTag

    token = value[len(PREFIX):]
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return _cipher(secret_key).decrypt(data, None).decode()
    except (InvalidTag, ValueError, binascii.Error):
        raise SealBroken() from None


def seal_source(secret_key: bytes, text: str, secrets: Iterable[str]) -> str:
    """An agreement file's text with every inline channel URL in `secrets` sealed where it
    is written (comments included): the file otherwise as written, and parsing the same
    but for those channels. A URL the text does not hold as written (a YAML escape, a
    folded line) is sealed in the parsed document instead, which is then written back out
    (its comments and layout lost: it is read only by phoihop)."""
    wanted = sorted({s for s in secrets if is_inline(s) and not is_sealed(s)},
                    key=len, reverse=True)
    if not wanted:
        return text
    pattern = re.compile("|".join(re.escape(s) for s in wanted))

    def sealed(m: re.Match[str]) -> str:
        return seal(secret_key, m.group())

    out = pattern.sub(sealed, text)
    root = yaml.compose(out, Loader=LOADER)
    if root is None or not _scalars(root, pattern, None):
        return out
    _scalars(root, pattern, sealed)
    out = yaml.serialize(root, Dumper=yaml.SafeDumper, allow_unicode=True, width=10**6)
    again = yaml.compose(out, Loader=LOADER)
    if again is not None and _scalars(again, pattern, None):  # cannot happen
        raise RuntimeError("an inline channel URL could not be sealed in the agreement text")
    return out


def _scalars(root: Node, pattern: re.Pattern[str],
             replace: Callable[[re.Match[str]], str] | None) -> bool:
    """Whether a scalar of the document holds one of the URLs; with `replace`, each such
    scalar's value has them sealed."""
    found, seen, stack = False, set[int](), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            if pattern.search(node.value):
                found = True
                if replace is not None:
                    node.value = pattern.sub(replace, node.value)
                    node.style = '"'
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, MappingNode):
            stack.extend(n for pair in node.value for n in pair)
    return found
