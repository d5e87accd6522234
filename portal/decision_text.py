"""Wording of the coordinator decision pages, and of decisions in a reply's history.

Vietnamese first. Keys ending in a purpose (accept, return, approve, deny) or a decision
(accepted, returned, granted, denied, pending, superseded) are looked up by it.
"""

from __future__ import annotations

from typing import Any

from core.statuses import Decision, ObligationStatus, ReplyStatus

WORDS = {
    "vi": {
        "heading_accept": "Chấp nhận báo cáo",
        "heading_return": "Trả lại báo cáo để bổ sung",
        "heading_approve": "Đồng ý gia hạn",
        "heading_deny": "Không đồng ý gia hạn",
        "intro": "Kiểm tra nội dung dưới đây rồi bấm nút xác nhận. Mở trang này không thay "
                 "đổi gì.",
        "submitted": "Nội dung đơn vị đã gửi", "status": "Tình hình", "when": "Gửi lúc",
        "by": "Người trả lời", "via": "qua đường dẫn của", "values": "Số liệu",
        "note": "Ghi chú", "reason": "Lý do / đề xuất", "attachment": "Tệp đính kèm",
        "until": "Xin gia hạn đến", "days_more": "thêm {n} ngày",
        "comment_accept": "Ý kiến (không bắt buộc)",
        "comment_return": "Ý kiến: đơn vị cần bổ sung gì (bắt buộc)",
        "comment_approve": "Ý kiến (không bắt buộc)",
        "comment_deny": "Lý do không đồng ý (không bắt buộc)",
        "button_accept": "Xác nhận chấp nhận", "button_return": "Xác nhận trả lại",
        "button_approve": "Xác nhận đồng ý gia hạn", "button_deny": "Xác nhận không đồng ý",
        "comment_required": "Cần ghi ý kiến: đơn vị cần bổ sung gì.",
        "done": "Đã ghi nhận quyết định",
        "done_accepted": "Báo cáo đã được chấp nhận; đơn vị sẽ nhận được thư thông báo.",
        "done_returned": "Báo cáo đã được trả lại để bổ sung; đơn vị sẽ nhận được thư kèm ý "
                         "kiến, và việc nhắc báo cáo tiếp tục.",
        "done_granted": "Đã đồng ý gia hạn; hạn mới: {due}. Đơn vị sẽ nhận được thư thông báo.",
        "done_denied": "Đã ghi nhận không đồng ý gia hạn; hạn vẫn là {due}. Đơn vị sẽ nhận "
                       "được thư thông báo.",
        "already": "Việc này đã được quyết định",
        "already_text": "Không có gì thay đổi: {what}.",
        "already_accepted": "báo cáo đã được chấp nhận lúc {when}",
        "already_returned": "báo cáo đã được trả lại để bổ sung lúc {when}",
        "already_granted": "đề nghị gia hạn đã được đồng ý lúc {when}",
        "already_denied": "đề nghị gia hạn đã bị từ chối lúc {when}",
        "already_superseded": "đơn vị đã gửi một đề nghị gia hạn mới thay cho đề nghị này",
        "already_replaced": "đơn vị đã gửi bản báo cáo mới hơn, hoặc nội dung này đã được "
                            "chấp nhận",
    },
    "en": {
        "heading_accept": "Accept a report",
        "heading_return": "Return a report for revision",
        "heading_approve": "Approve an extension",
        "heading_deny": "Deny an extension",
        "intro": "Check what follows, then press the button to confirm. Opening this page "
                 "changes nothing.",
        "submitted": "What the agency sent", "status": "Status", "when": "Sent",
        "by": "Answered by", "via": "through the link of", "values": "Figures",
        "note": "Note", "reason": "Reason / proposal", "attachment": "Attachment",
        "until": "Extension asked until", "days_more": "{n} more days",
        "comment_accept": "Comment (optional)",
        "comment_return": "Comment: what the agency should revise (required)",
        "comment_approve": "Comment (optional)",
        "comment_deny": "Reason for denying (optional)",
        "button_accept": "Confirm: accept", "button_return": "Confirm: return",
        "button_approve": "Confirm: approve the extension", "button_deny": "Confirm: deny",
        "comment_required": "A comment is needed: what should the agency revise.",
        "done": "Decision recorded",
        "done_accepted": "The report is accepted; the agency will be told by e-mail.",
        "done_returned": "The report is returned for revision; the agency will get your "
                         "comment by e-mail, and the reminders go on.",
        "done_granted": "The extension is approved; new due date: {due}. The agency will be "
                        "told by e-mail.",
        "done_denied": "The extension is denied; still due {due}. The agency will be told by "
                       "e-mail.",
        "already": "This was decided already",
        "already_text": "Nothing changed: {what}.",
        "already_accepted": "the report was accepted at {when}",
        "already_returned": "the report was returned for revision at {when}",
        "already_granted": "the extension was approved at {when}",
        "already_denied": "the extension was denied at {when}",
        "already_superseded": "the agency sent a newer extension request in place of this one",
        "already_replaced": "the agency sent a newer report, or this one was accepted",
    },
}


STATE = {  # a reply link's state, at the top of the partner's page
    "vi": {
        "accepted": "Báo cáo đã được chấp nhận{on}. Nội dung này đã xong, không cần gửi thêm.",
        "waived": "Nội dung này đã được miễn báo cáo; không cần trả lời.",
        "returned": "Báo cáo được trả lại để bổ sung{on}: {comment}. Vui lòng gửi lại bên "
                    "dưới.",
        "submitted": "Đã gửi báo cáo lúc {when}; đang chờ cơ quan chủ trì xem xét.",
        "granted": "Đã được gia hạn đến {until}.",
        "denied": "Không được gia hạn{on}: {comment}. Hạn vẫn là {due}.",
        "pending": "Đề nghị gia hạn đến {until} đang chờ cơ quan chủ trì quyết định.",
        "on": " ngày {date}", "no_comment": "không nêu lý do",
    },
    "en": {
        "accepted": "The report was accepted{on}. This item is complete; nothing more to "
                    "send.",
        "waived": "This item was waived; no reply is needed.",
        "returned": "The report was returned for revision{on}: {comment}. Please send it "
                    "again below.",
        "submitted": "Report sent at {when}; awaiting the convener's review.",
        "granted": "Extension granted until {until}.",
        "denied": "Extension denied{on}: {comment}. The due date stays {due}.",
        "pending": "The extension request until {until} awaits the convener's decision.",
        "on": " on {date}", "no_comment": "no reason given",
    },
}


def state_of(view: Any, language: str) -> dict[str, str] | None:
    """What a reply link's page says first: accepted, returned (with the comment), sent
    and awaiting review, an extension granted, denied or pending; None otherwise. `view`
    is `services.partner.View`; the text is plain (the page escapes it)."""
    w = STATE["en" if language == "en" else "vi"]
    status = view.obligation.status
    decided = next((r for r in reversed(view.history) if r.get("decision_code")), None)
    latest = view.history[-1] if view.history else None

    def on(r: dict[str, Any] | None) -> str:
        return w["on"].format(date=r["decided"]) if r and r.get("decided") else ""

    if status == ObligationStatus.ACCEPTED:
        return {"kind": "accepted", "text": w["accepted"].format(on=on(decided))}
    if status == ObligationStatus.WAIVED:
        return {"kind": "closed", "text": w["waived"]}
    if latest is None:
        return None
    code = latest.get("decision_code")
    comment = latest.get("comment") or w["no_comment"]
    if code == Decision.RETURNED:
        return {"kind": "returned", "text": w["returned"].format(on=on(latest),
                                                                  comment=comment)}
    if code == Decision.GRANTED:
        return {"kind": "info", "text": w["granted"].format(until=latest["until"] or "")}
    if code == Decision.DENIED:
        return {"kind": "returned", "text": w["denied"].format(
            on=on(latest), comment=comment, due=view.info["due"])}
    if code == Decision.PENDING:
        return {"kind": "info", "text": w["pending"].format(until=latest["until"] or "")}
    if status == ObligationStatus.SUBMITTED and latest["status"] == ReplyStatus.DONE:
        return {"kind": "info", "text": w["submitted"].format(when=latest["when"])}
    return None
