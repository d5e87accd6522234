"""Portal wording, Vietnamese first."""

from __future__ import annotations

TEXT = {
    "vi": {
        "title": "Trả lời tình hình thực hiện", "agreement": "Chương trình",
        "commitment": "Nội dung", "party": "Đơn vị", "period": "Kỳ báo cáo", "due": "Hạn",
        "indicators": "Chỉ tiêu", "history": "Các lần trả lời trước",
        "calendar": "Lịch hạn báo cáo của đơn vị",
        "calendar_hint": "Thêm vào lịch điện thoại bằng «Đăng ký lịch» / «Thêm lịch từ URL»: "
                         "các hạn tự cập nhật khi được gia hạn.", "status": "Tình hình",
        "done": "Đã hoàn thành (gửi báo cáo)", "in_progress": "Đang thực hiện",
        "blocked": "Gặp vướng mắc", "extension": "Xin gia hạn", "percent": "Tỷ lệ hoàn thành (%)",
        "reason": "Lý do / đề xuất", "until": "Xin gia hạn đến ngày", "note": "Ghi chú",
        "answered_by": "Người trả lời (họ tên)", "submit": "Gửi trả lời",
        "thanks": "Đã ghi nhận trả lời", "recorded": "Trả lời của đơn vị đã được ghi lại lúc",
        "version": "Lần", "refused": "Đường dẫn không dùng được",
        "refused_text": "Đường dẫn này không đúng, đã hết hạn hoặc đã bị thu hồi. Vui lòng dùng "
                        "đường dẫn trong thư mới nhất, hoặc liên hệ cán bộ theo dõi của cơ quan "
                        "chủ trì chương trình.",
        "fix": "Vui lòng sửa các mục được đánh dấu.", "switch": "English",
        "forbidden": "Yêu cầu bị từ chối", "too_many": "Quá nhiều yêu cầu, vui lòng thử lại sau.",
        "too_large": "Nội dung gửi quá lớn.", "coordinator": "Cán bộ theo dõi",
        "attachment": "Tệp đính kèm (không bắt buộc)",
        "attachment_hint": "Một tệp PDF, DOCX, XLSX, ODT, PNG, JPEG, WebP hoặc GIF, tối đa 10 MB.",
        "attachment_again": "Tệp “{name}” chưa được lưu vì biểu mẫu còn lỗi; vui lòng chọn "
                            "lại tệp trước khi gửi.",
        "file": "Tệp", "prefilled": "Số liệu chỉ tiêu được điền sẵn từ báo cáo kỳ {period} "
        "(ghi nhận ngày {date}); vui lòng kiểm tra và sửa nếu cần.",
        "bad_form": "Biểu mẫu gửi lên không đọc được. Vui lòng tải lại trang và gửi lại.",
        "store_failed": "Máy chủ không lưu được tệp đính kèm nên trả lời chưa được ghi nhận. "
                        "Vui lòng thử lại sau hoặc gửi không kèm tệp.",
    },
    "en": {
        "title": "Report your progress", "agreement": "Agreement", "commitment": "Commitment",
        "party": "Agency", "period": "Reporting period", "due": "Due",
        "indicators": "Indicators", "history": "Earlier replies",
        "calendar": "Your agency's report deadlines",
        "calendar_hint": "Add it to your phone's calendar as a subscription (\"from URL\"): "
                         "dates update when an extension is granted.", "status": "Status",
        "done": "Done (report sent)", "in_progress": "In progress", "blocked": "Blocked",
        "extension": "Request an extension", "percent": "Completion (%)",
        "reason": "Reason / proposal", "until": "Extend until", "note": "Note",
        "answered_by": "Your name", "submit": "Send reply", "thanks": "Reply recorded",
        "recorded": "Your agency's reply was recorded at", "version": "Version",
        "refused": "This link cannot be used",
        "refused_text": "This link is wrong, expired or revoked. Please use the link in the "
                        "latest message, or contact the convener's coordinator.",
        "fix": "Please correct the marked fields.", "switch": "Tiếng Việt",
        "forbidden": "Request refused", "too_many": "Too many requests; please try later.",
        "too_large": "The request is too large.", "coordinator": "Coordinator",
        "attachment": "Attachment (optional)",
        "attachment_hint": "One PDF, DOCX, XLSX, ODT, PNG, JPEG, WebP or GIF file, at most 10 MB.",
        "attachment_again": "The file “{name}” was not kept because the form has errors; "
                            "please choose it again before sending.",
        "file": "File", "prefilled": "Indicator values are prefilled from the report for "
        "{period} (recorded on {date}); please check them and change them as needed.",
        "bad_form": "The form could not be read. Please reload the page and send it again.",
        "store_failed": "The server could not store the attachment, so the reply was not "
                        "recorded. Please try again later, or send it without the file.",
    },
}
