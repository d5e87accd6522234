"""A national-scale synthetic set of agreements: deterministic, valid, realistically shaped.

3,500 agreements (a provincial or district association with 8–13 partner agencies each),
5-year periods, yearly, half-yearly and quarterly reports: about half a million obligations.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

PROVINCES = ["Quảng Trị", "Thanh Hóa", "Nghệ An", "Hà Tĩnh", "Quảng Bình", "Thừa Thiên Huế",
             "Đà Nẵng", "Quảng Nam", "Quảng Ngãi", "Bình Định", "Phú Yên", "Khánh Hòa",
             "Lâm Đồng", "Đắk Lắk", "Gia Lai", "Kon Tum", "Cần Thơ", "An Giang", "Bến Tre",
             "Cà Mau", "Hải Phòng", "Thái Bình", "Nam Định", "Ninh Bình", "Hà Giang",
             "Lào Cai", "Yên Bái", "Sơn La", "Điện Biên", "Lạng Sơn", "Bắc Ninh", "Hưng Yên"]
AGENCIES = [("so-gddt", "Sở Giáo dục và Đào tạo"), ("so-ldtbxh", "Sở Lao động - Thương binh "
            "và Xã hội"), ("so-vhttdl", "Sở Văn hóa, Thể thao và Du lịch"),
            ("so-tttt", "Sở Thông tin và Truyền thông"), ("tinh-doan", "Tỉnh Đoàn"),
            ("hlhpn", "Hội Liên hiệp Phụ nữ"), ("hnd", "Hội Nông dân"),
            ("ldld", "Liên đoàn Lao động"), ("bchqs", "Bộ Chỉ huy Quân sự"),
            ("cong-an", "Công an tỉnh"), ("hccb", "Hội Cựu chiến binh"),
            ("mttq", "Ủy ban Mặt trận Tổ quốc"), ("dai-ptth", "Đài Phát thanh và Truyền hình")]
NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thị Dung", "Hoàng Văn Em",
         "Võ Thị Giang", "Đặng Quốc Huy", "Bùi Thị Lan", "Đỗ Minh Khoa", "Hồ Thị Ngọc"]


def agreement_text(index: int, rng: random.Random, parties: int | None = None,
                   monthly: bool = False) -> str:
    province = PROVINCES[index % len(PROVINCES)]
    start_year = rng.choice([2021, 2026])
    code = f"SYN-{index:05d}-{start_year}-{start_year + 4}"
    n = parties or rng.randint(8, 13)
    agencies = rng.sample(AGENCIES, n - 1)
    lines = [
        "version: 1", f"code: {code}",
        f"title: Chương trình phối hợp khuyến học số {index} tỉnh {province} "
        f"giai đoạn {start_year}-{start_year + 4}",
        f"signed_on: {start_year}-0{rng.randint(1, 3)}-{rng.randint(10, 28)}",
        f"period: {{start: {start_year}-01-01, end: {start_year + 4}-12-31}}",
        "convener: hkh", "parties:",
        "  - id: hkh", f"    name: Hội Khuyến học tỉnh {province}", "    contacts:",
        f"      - {{name: {rng.choice(NAMES)}, role: coordinator, email: dp{index}@hkh.example}}",
        f"      - {{name: {rng.choice(NAMES)}, role: focal, email: dm{index}@hkh.example}}",
        f"      - {{name: Chủ tịch Hội, role: head, email: ct{index}@hkh.example}}",
    ]
    for pid, name in agencies:
        lines += [f"  - id: {pid}", f"    name: {name} tỉnh {province}", "    contacts:",
                  f"      - {{name: {rng.choice(NAMES)}, role: focal, "
                  f"email: {pid}.{index}@agency.example}}",
                  f"      - {{name: Thủ trưởng, role: head, "
                  f"email: head.{pid}.{index}@agency.example}}"]
    ids = [pid for pid, _ in agencies]
    lines.append("commitments:")
    lines += ["  - id: tuyen-truyen", "    title: Tuyên truyền về xây dựng xã hội học tập",
              f"    lead: {ids[0]}", f"    support: [hkh, {ids[1]}]", "    reports:",
              '      - {every: year, due: "12-15", from: all}']
    lines += ["  - id: mo-hinh-hoc-tap", "    title: Xây dựng các mô hình học tập", "    lead: hkh",
              f"    support: [{', '.join(ids)}]", "    reports:",
              '      - {every: year, due: "12-10", from: all}',
              f'      - {{every: half-year, due: "+15d", from: [{", ".join(ids[:3])}]}}',
              "    indicators:",
              "      - {id: dang-ky, label: Số đơn vị đăng ký, kind: count}",
              "      - {id: dat, label: Số đơn vị đạt, kind: count, at_most: dang-ky}",
              "      - {id: ty-le, label: Tỷ lệ hộ học tập, kind: percent}"]
    every = "month" if monthly else "quarter"
    lines += ["  - id: quy-khuyen-hoc", "    title: Vận động quỹ khuyến học",
              f"    lead: {ids[2 % len(ids)]}", "    reports:",
              f'      - {{every: {every}, due: "+10d"}}',
              "    indicators:", "      - {id: quy-vnd, label: Quỹ vận động (đồng), kind: number}"]
    lines += ["reviews:", f"  rotation: [{', '.join(ids[:4])}]"]
    return "\n".join(lines) + "\n"


def generate(count: int = 3500, seed: int = 20261122) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    for i in range(count):
        yield f"syn-{i:05d}.yaml", agreement_text(i, rng).encode()


def large_agreement() -> bytes:
    """One large agreement: 13 parties, monthly reports."""
    return agreement_text(99999, random.Random(7), parties=13, monthly=True).encode()
