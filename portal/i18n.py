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
        "when": "khi chọn", "or": "hoặc", "date_format": "ngày/tháng/năm",
        "date_hint": "Ví dụ: 31/12/2022.",
        "numbers_hint": "Viết số như thường lệ: 1.520 (một nghìn năm trăm hai mươi), 63,4.",
        "pick": "Ý bạn là:",
        "home_title": "phoihop — theo dõi chương trình phối hợp",
        "home_what": (
            "Đây là trang trả lời của phoihop, công cụ giúp Hội Khuyến học và các cơ quan, "
            "đơn vị ký kết theo dõi việc thực hiện chương trình phối hợp: nhắc hạn báo cáo, "
            "nhận trả lời của các đơn vị và tổng hợp số liệu cho các kỳ sơ kết, tổng kết."),
        "home_how": (
            "Không cần tài khoản: mỗi cán bộ đầu mối nhận qua thư một đường dẫn riêng cho "
            "từng nội dung cần báo cáo; mở đường dẫn đó để trả lời. Trang này không có gì "
            "khác để xem."),
        "home_contact_title": "Cần hỗ trợ?",
        "home_contact": "Liên hệ cán bộ theo dõi của cơ quan chủ trì chương trình phối hợp "
                        "(người ký thư nhắc bạn nhận được), hoặc trả lời chính thư đó.",
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
        "when": "when", "or": "or", "date_format": "dd/mm/yyyy",
        "date_hint": "For example: 31/12/2022.",
        "numbers_hint": "Write numbers as usual in English: 1,520 (one thousand five "
                        "hundred and twenty), 63.4.",
        "pick": "Did you mean:",
        "home_title": "phoihop — coordination agreements",
        "home_what": (
            "This is the reply portal of phoihop, which helps a Learning Promotion "
            "Association and the agencies that signed a coordination agreement with it "
            "follow the agreement: reminders before each report is due, the agencies' "
            "replies, and the figures of each review."),
        "home_how": (
            "No account is needed: each focal contact receives by e-mail a link of their "
            "own for each item to report; open that link to reply. There is nothing else "
            "to see here."),
        "home_contact_title": "Need help?",
        "home_contact": "Contact the coordinator of the agreement's convener (who signs the "
                        "reminders you receive), or reply to that message.",
    },
}
