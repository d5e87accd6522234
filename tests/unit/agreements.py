"""A small valid agreement to derive broken and special cases from (line numbers matter)."""

VALID = """\
version: 1
code: T-2024
title: Chương trình phối hợp thử
signed_on: 2024-01-02
period: {start: 2024-01-01, end: 2025-12-31}
convener: hkh
supervisor: btg
parties:
  - id: hkh
    name: Hội Khuyến học tỉnh
    contacts:
      - {name: Điều phối viên, role: coordinator, email: dp@hkh.example}
      - {name: Đầu mối HKH, role: focal, email: dm@hkh.example}
  - id: so
    name: Sở Giáo dục và Đào tạo
    contacts:
      - {name: Lê Thị Hoa, role: focal, email: hoa@so.example}
      - {name: Giám đốc, role: head, email: gd@so.example}
observers:
  - id: btg
    name: Ban Tuyên giáo
    contacts:
      - {name: Văn phòng, role: focal, email: vp@btg.example}
commitments:
  - id: tuyen-truyen
    title: Tuyên truyền
    lead: so
    support: [hkh]
    reports:
      - {every: year, due: "12-15", from: all}
    indicators:
      - {id: dang-ky, label: Số đăng ký, kind: count}
      - {id: dat, label: Số đạt, kind: count, at_most: dang-ky}
"""
