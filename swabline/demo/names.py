"""Plausible Vietnamese names for synthetic people (frequencies roughly as in the population)."""

# fmt: off

FAMILY_NAMES = [
    ("Nguyễn", 38), ("Trần", 11), ("Lê", 9), ("Phạm", 7), ("Huỳnh", 5), ("Hoàng", 3),
    ("Phan", 4), ("Vũ", 3), ("Võ", 3), ("Đặng", 2), ("Bùi", 2), ("Đỗ", 2), ("Hồ", 2),
    ("Ngô", 2), ("Dương", 1), ("Lý", 1), ("Trương", 1), ("Đinh", 1), ("Lâm", 1), ("Mai", 1),
]
MIDDLE_MALE = ["Văn", "Hữu", "Minh", "Đức", "Quốc", "Thanh", "Công", "Hoàng", "Tấn", "Trọng"]
MIDDLE_FEMALE = ["Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Kim", "Mỹ", "Bích", "Hồng"]
GIVEN_MALE = [
    "Anh", "Bảo", "Bình", "Cường", "Dũng", "Duy", "Hải", "Hiếu", "Hùng", "Huy", "Khang",
    "Khoa", "Kiên", "Long", "Lộc", "Minh", "Nam", "Nghĩa", "Phát", "Phúc", "Quân", "Quang",
    "Sơn", "Tài", "Thắng", "Thành", "Thịnh", "Toàn", "Trung", "Tuấn", "Việt", "Vinh",
]
GIVEN_FEMALE = [
    "An", "Anh", "Châu", "Chi", "Diệp", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương",
    "Lan", "Liên", "Linh", "Loan", "Mai", "My", "Ngân", "Ngọc", "Nhung", "Oanh", "Phương",
    "Quyên", "Tâm", "Thảo", "Thủy", "Trang", "Trinh", "Uyên", "Vân", "Yến",
]
STREETS = [
    "Cách Mạng Tháng Tám", "Trần Hưng Đạo", "Nguyễn Chí Thanh", "Lạc Long Quân",
    "Điện Biên Phủ", "Võ Thị Sáu", "Nguyễn Văn Linh", "30 Tháng 4", "Hoàng Lê Kha",
    "Trưng Nữ Vương", "Bời Lời", "Huỳnh Tấn Phát",
]
# Vietnamese mobile prefixes (after the trunk 0), as allocated since the 2018 renumbering.
MOBILE_PREFIXES = [
    "32", "33", "34", "35", "36", "37", "38", "39", "56", "58", "59", "70", "76", "77",
    "78", "79", "81", "82", "83", "84", "85", "86", "88", "89", "90", "91", "93", "94",
    "96", "97", "98",
]
