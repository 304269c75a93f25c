"""Deterministic demo data: a Shanghai elevator + HVAC company and a small Beijing one.

One ``random.Random(DEMO_SEED)`` drives every choice, every date hangs off a fixed anchor
(Monday 2026-11-16 00:00 Asia/Shanghai) and every primary key is a uuid5 of a stable name,
so two runs write identical rows; only the password hash differs (Argon2 salts it).

``generate_demo`` builds the rows in memory, ``load_demo`` adds them to a session and
``seed_demo`` (the ``flask seed`` command) writes them in one transaction. Work-order
histories are walked through ``workflow.lifecycle.decide`` while they are generated, so a
demo order can only have a history the API itself would have allowed.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import click
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry import Polygon
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo import Point
from geo.sql import point_element, polygon_element
from server.auth.models import User
from server.auth.security import hash_password
from server.checklists.models import ChecklistTemplate, pick_template
from server.customers.models import Customer, Site
from server.db import SYSTEM_KEY, TENANT_KEY, db, set_tenant, system_scope
from server.equipment.models import Equipment, EquipmentConfigRevision
from server.kb.models import KbArticle
from server.organization.models import CustomFieldDefinition, Skill, Territory
from server.parts.models import Part, PartUsage
from server.stock import service as stock
from server.stock.models import StockLevel, StockLocation
from server.technicians.models import Shift, Technician, TechnicianSkill
from server.tenants.models import Tenant
from server.work_orders.models import WorkOrder, WorkOrderCounter, WorkOrderEvent, WorkOrderHelper
from workflow.lifecycle import Effect, Role, Status, TransitionContext, decide

DEMO_PASSWORD = "demo-password-2026"
"""The one password of every demo account (printed with the logins by ``flask seed``)."""

DEMO_SEED = 20261116
SHANGHAI = ZoneInfo("Asia/Shanghai")
ANCHOR = dt.datetime(2026, 11, 16, tzinfo=SHANGHAI)
# The story's frozen "now": Monday 11:00, so some orders are on site and some en route.
NOW = ANCHOR + dt.timedelta(hours=11)
# When the demo companies started using the product; reference rows carry this time.
ONBOARDED = dt.datetime(2025, 9, 1, 9, tzinfo=SHANGHAI)

# Fixed so ids are stable across runs and machines (uuid5 of "<slug>/<kind>/<n>").
_NAMESPACE = uuid.UUID("5e3d7c1a-9b2f-4f60-8d0e-2a6c0de5eed1")
_MIN_GAP = dt.timedelta(minutes=1)
# Buffer between two bookings of one technician (travel between sites).
_TRAVEL = dt.timedelta(minutes=30)


class SeedRefused(click.ClickException):
    """Seeding would duplicate the demo tenants; shown by ``flask seed`` as a clean error."""


# --- reference tables -------------------------------------------------------------------

SKILLS: dict[str, tuple[str, str]] = {
    "elevator_mech": ("电梯机械", "Elevator mechanical"),
    "elevator_ctrl": ("电梯控制系统", "Elevator controls"),
    "escalator": ("自动扶梯", "Escalators & moving walks"),
    "hvac_chiller": ("冷水机组", "Chillers"),
    "hvac_airside": ("空调风系统", "Air handling units"),
    "hvac_split": ("分体及多联空调", "Split & VRF air conditioning"),
    "refrigerant_cert": ("制冷剂操作证", "Refrigerant handling certificate"),
    "electrical": ("电工", "Electrical"),
    "plc": ("PLC与楼宇自控", "PLC & building automation"),
}

# category -> (primary skill, optional secondary skills)
CATEGORY_SKILLS: dict[str, tuple[str, tuple[str, ...]]] = {
    "elevator": ("elevator_mech", ("elevator_ctrl", "electrical")),
    "escalator": ("escalator", ("elevator_mech", "electrical")),
    "chiller": ("hvac_chiller", ("refrigerant_cert", "plc")),
    "ahu": ("hvac_airside", ("electrical", "plc")),
    "split_ac": ("hvac_split", ("refrigerant_cert", "electrical")),
}
ORDER_CATEGORY = {
    "elevator": "elevator",
    "escalator": "escalator",
    "chiller": "hvac",
    "ahu": "hvac",
    "split_ac": "hvac",
}

SURNAMES = (
    ("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"),
    ("杨", "Yang"), ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"),
    ("徐", "Xu"), ("孙", "Sun"), ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"),
    ("郭", "Guo"), ("何", "He"), ("林", "Lin"), ("高", "Gao"), ("罗", "Luo"),
    ("郑", "Zheng"), ("梁", "Liang"), ("谢", "Xie"), ("宋", "Song"), ("唐", "Tang"),
    ("韩", "Han"), ("冯", "Feng"), ("邓", "Deng"), ("曹", "Cao"), ("沈", "Shen"),
    ("顾", "Gu"), ("陆", "Lu"), ("钱", "Qian"), ("蒋", "Jiang"), ("姚", "Yao"),
)  # fmt: skip
GIVEN_NAMES = (
    ("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing"),
    ("磊", "Lei"), ("强", "Qiang"), ("洋", "Yang"), ("艳", "Yan"), ("勇", "Yong"),
    ("军", "Jun"), ("杰", "Jie"), ("涛", "Tao"), ("明", "Ming"), ("超", "Chao"),
    ("秀英", "Xiuying"), ("志强", "Zhiqiang"), ("建华", "Jianhua"), ("海燕", "Haiyan"),
    ("晓东", "Xiaodong"), ("丽娟", "Lijuan"), ("国栋", "Guodong"), ("文博", "Wenbo"),
    ("雨轩", "Yuxuan"), ("嘉怡", "Jiayi"), ("子涵", "Zihan"), ("浩然", "Haoran"),
    ("思远", "Siyuan"), ("春华", "Chunhua"), ("立新", "Lixin"), ("佳琪", "Jiaqi"),
    ("俊杰", "Junjie"), ("晨", "Chen"), ("宇", "Yu"), ("斌", "Bin"), ("鹏", "Peng"),
)  # fmt: skip
# Fictional brand prefixes for customers (Chinese, pinyin).
PREFIXES = (
    ("东方", "Dongfang"), ("申城", "Shencheng"), ("浦江", "Pujiang"), ("金桥", "Jinqiao"),
    ("长风", "Changfeng"), ("恒瑞", "Hengrui"), ("宏伟", "Hongwei"), ("瑞丰", "Ruifeng"),
    ("华美", "Huamei"), ("明珠", "Mingzhu"), ("嘉和", "Jiahe"), ("天和", "Tianhe"),
    ("新湖", "Xinhu"), ("云峰", "Yunfeng"), ("星河", "Xinghe"), ("君悦", "Junyue"),
    ("锦绣", "Jinxiu"), ("海川", "Haichuan"), ("春申", "Chunshen"), ("凯旋", "Kaixuan"),
    ("滨江", "Binjiang"), ("世纪", "Shiji"), ("汇金", "Huijin"), ("盛世", "Shengshi"),
    ("中环", "Zhonghuan"), ("鼎盛", "Dingsheng"), ("博源", "Boyuan"), ("和平", "Heping"),
    ("万源", "Wanyuan"), ("九州", "Jiuzhou"), ("龙腾", "Longteng"), ("紫金", "Zijin"),
    ("翠湖", "Cuihu"), ("望江", "Wangjiang"), ("银河", "Yinhe"), ("泰和", "Taihe"),
    ("合众", "Hezhong"), ("晨曦", "Chenxi"), ("丰泽", "Fengze"), ("安泰", "Antai"),
)  # fmt: skip


@dataclass(frozen=True)
class _Kind:
    """A kind of customer: how its sites are named, what they contain, how to get in."""

    weight: int
    suffixes: tuple[tuple[str, str], ...]
    group: tuple[str, str]
    equipment: tuple[tuple[str, int], ...]
    access: tuple[str, ...]


KINDS: dict[str, _Kind] = {
    "office": _Kind(
        28,
        (("大厦", "Tower"), ("国际中心", "International Centre"), ("商务广场", "Business Plaza")),
        ("置业有限公司", "Real Estate Co., Ltd."),
        (("elevator", 55), ("chiller", 15), ("ahu", 20), ("split_ac", 10)),
        (
            "访客需在一楼大堂登记并出示工作证 Register at lobby reception, show staff ID",
            "机房钥匙在B1工程部 Machine-room key at the B1 engineering office",
            "工作日18:00后施工需提前报备保安 Tell security before working after 18:00",
        ),
    ),
    "mall": _Kind(
        12,
        (("购物中心", "Shopping Mall"), ("广场", "Plaza")),
        ("商业管理有限公司", "Commercial Management Co., Ltd."),
        (("escalator", 40), ("elevator", 30), ("chiller", 15), ("ahu", 15)),
        (
            "营业时间内禁止停用扶梯，计划性工作安排在22:00后 No escalator stops in opening hours",
            "从P2卸货区进入，联系中控室 Enter via the P2 loading dock, call the control room",
        ),
    ),
    "hospital": _Kind(
        8,
        (("医院", "Hospital"), ("妇幼保健院", "Maternity & Child Hospital")),
        ("医疗集团", "Medical Group"),
        (("elevator", 55), ("chiller", 20), ("ahu", 25)),
        (
            "院感要求：进入病区须穿鞋套 Infection control: shoe covers in wards",
            "急诊梯停用不得超过30分钟 The emergency lift may not be down over 30 minutes",
        ),
    ),
    "hotel": _Kind(
        10,
        (("大酒店", "Grand Hotel"), ("酒店", "Hotel")),
        ("酒店管理有限公司", "Hotel Management Co., Ltd."),
        (("elevator", 50), ("chiller", 20), ("split_ac", 15), ("ahu", 15)),
        (
            "走员工通道，联系工程部值班 Use the staff entrance, call the duty engineer",
            "客房层施工需避开10:00前 No work on guest floors before 10:00",
        ),
    ),
    "residential": _Kind(
        25,
        (("花园", "Garden"), ("公寓", "Apartments"), ("苑", "Residences")),
        ("物业管理有限公司", "Property Management Co., Ltd."),
        (("elevator", 90), ("split_ac", 10)),
        (
            "小区东门进入，车辆需登记 Enter by the east gate, register the vehicle",
            "电梯机房钥匙在物业服务中心 Lift machine-room key at the management office",
        ),
    ),
    "factory": _Kind(
        12,
        (
            ("精密制造有限公司", "Precision Manufacturing Co., Ltd."),
            ("电子科技有限公司", "Electronics Co., Ltd."),
            ("食品有限公司", "Food Co., Ltd."),
        ),
        ("实业集团", "Industrial Group"),
        (("split_ac", 40), ("ahu", 30), ("elevator", 20), ("chiller", 10)),
        (
            "进厂须安全培训并穿劳保鞋 Safety induction and safety shoes required",
            "在门卫处换临时出入证 Exchange ID for a visitor pass at the gatehouse",
        ),
    ),
    "datacenter": _Kind(
        5,
        (("数据中心", "Data Centre"),),
        ("云计算有限公司", "Cloud Computing Co., Ltd."),
        (("chiller", 40), ("split_ac", 35), ("ahu", 25)),
        (
            "须提前24小时预约并携带身份证 Book 24 h ahead and bring ID",
            "机房内动火须办理许可证 Hot work in the data hall needs a permit",
        ),
    ),
}

# (manufacturer, model, short code used in SKUs)
MODELS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "elevator": (
        ("Otis", "Gen2", "OTG2"),
        ("Schindler", "3300", "S330"),
        ("Schindler", "5500", "S550"),
        ("KONE", "MonoSpace 500", "KMS5"),
        ("Mitsubishi", "NexWay", "MNXW"),
        ("Hitachi", "UAX", "HUAX"),
    ),
    "escalator": (
        ("Otis", "Link", "OLNK"),
        ("KONE", "TravelMaster 110", "KTM1"),
        ("Schindler", "9300", "S930"),
        ("Mitsubishi", "J-Series", "MJSR"),
    ),
    "chiller": (
        ("Carrier", "30XA", "C30X"),
        ("Trane", "CVHE", "TCVH"),
        ("York", "YK", "YOYK"),
        ("Daikin", "WMC", "DWMC"),
    ),
    "ahu": (
        ("Carrier", "39CQ", "C39C"),
        ("Trane", "CLCP", "TCLC"),
        ("Daikin", "D-AHU Modular R", "DAHU"),
    ),
    "split_ac": (
        ("Daikin", "VRV X", "DVRX"),
        ("Gree", "GMV6", "GGM6"),
        ("Midea", "V8", "MDV8"),
        ("Mitsubishi Electric", "City Multi", "MECM"),
    ),
}
CHILLER_REFRIGERANT = {"30XA": "R-134a", "CVHE": "R-514A", "YK": "R-134a", "WMC": "R-1234ze"}
MAKER_CODE = {
    "Otis": "OT",
    "Schindler": "SC",
    "KONE": "KO",
    "Mitsubishi": "MI",
    "Hitachi": "HI",
    "Carrier": "CA",
    "Trane": "TR",
    "York": "YO",
    "Daikin": "DK",
    "Gree": "GR",
    "Midea": "MD",
    "Mitsubishi Electric": "ME",
    "Wittur": "WI",
    "Fermator": "FE",
}

# Per-model parts: (SKU family, Chinese, English, unit, serialized, cost range CNY)
MODEL_PARTS: dict[str, tuple[tuple[str, str, str, str, bool, int, int], ...]] = {
    "elevator": (
        ("MCB", "主控板", "Main control board", "pcs", True, 4500, 9000),
        ("DOM", "门机电机", "Door operator motor", "pcs", True, 1800, 3500),
        ("INV", "变频器", "Inverter drive", "pcs", True, 6000, 15000),
    ),
    "escalator": (
        ("SCH", "梯级链", "Step chain", "set", False, 8000, 20000),
        ("HRL", "扶手带", "Handrail", "m", False, 300, 600),
    ),
    "chiller": (
        ("CMP", "压缩机", "Compressor", "pcs", True, 60000, 180000),
        ("CTL", "控制主板", "Controller board", "pcs", True, 8000, 15000),
        ("EXV", "电子膨胀阀", "Electronic expansion valve", "pcs", False, 3000, 8000),
    ),
    "ahu": (
        ("FMT", "风机电机", "Fan motor", "pcs", True, 2500, 9000),
        ("VFD", "风机变频器", "Fan VFD", "pcs", True, 3000, 12000),
    ),
    "split_ac": (
        ("PCB", "室外机主板", "Outdoor unit PCB", "pcs", True, 1200, 3000),
        ("ICP", "变频压缩机", "Inverter compressor", "pcs", True, 5000, 12000),
    ),
}
# Catalogue-wide parts: (SKU, Chinese, English, unit, category or None, cost CNY)
GENERIC_PARTS: tuple[tuple[str, str, str, str, str | None, float], ...] = (
    ("RF-R134A", "制冷剂 R-134a", "Refrigerant R-134a", "kg", "chiller", 65),
    ("RF-R514A", "制冷剂 R-514A", "Refrigerant R-514A", "kg", "chiller", 240),
    ("RF-R1234ZE", "制冷剂 R-1234ze", "Refrigerant R-1234ze", "kg", "chiller", 220),
    ("RF-R410A", "制冷剂 R-410A", "Refrigerant R-410A", "kg", "split_ac", 70),
    ("RF-R32", "制冷剂 R-32", "Refrigerant R-32", "kg", "split_ac", 55),
    ("OIL-POE-1L", "POE冷冻机油 1L", "POE compressor oil 1 L", "L", "chiller", 180),
    ("OIL-MIN-4L", "矿物冷冻油 4L", "Mineral refrigeration oil 4 L", "pcs", None, 260),
    ("FLT-G4-595", "初效板式过滤器 G4 595×595", "Panel filter G4 595×595", "pcs", "ahu", 45),
    ("FLT-G4-495", "初效板式过滤器 G4 495×495", "Panel filter G4 495×495", "pcs", "ahu", 38),
    ("FLT-F7-595", "中效袋式过滤器 F7 595×595", "Bag filter F7 595×595", "pcs", "ahu", 180),
    ("FLT-F7-495", "中效袋式过滤器 F7 495×495", "Bag filter F7 495×495", "pcs", "ahu", 150),
    ("FLT-H13", "高效过滤器 H13", "HEPA filter H13", "pcs", "ahu", 900),
    ("BLT-SPA1250", "三角带 SPA1250", "V-belt SPA 1250", "pcs", "ahu", 38),
    ("BLT-SPA1400", "三角带 SPA1400", "V-belt SPA 1400", "pcs", "ahu", 42),
    ("BLT-SPB1600", "三角带 SPB1600", "V-belt SPB 1600", "pcs", "ahu", 58),
    ("BLT-SPB2000", "三角带 SPB2000", "V-belt SPB 2000", "pcs", "ahu", 66),
    ("BRG-6204", "轴承 6204-2RS", "Bearing 6204-2RS", "pcs", None, 22),
    ("BRG-6205", "轴承 6205-2RS", "Bearing 6205-2RS", "pcs", None, 26),
    ("BRG-6306", "轴承 6306-2RS", "Bearing 6306-2RS", "pcs", None, 48),
    ("ELC-CT09", "交流接触器 9A", "Contactor 9 A", "pcs", None, 85),
    ("ELC-CT18", "交流接触器 18A", "Contactor 18 A", "pcs", None, 120),
    ("ELC-CT32", "交流接触器 32A", "Contactor 32 A", "pcs", None, 210),
    ("ELC-FU02", "保险丝 2A（10只）", "Fuse 2 A (box of 10)", "pcs", None, 15),
    ("ELC-FU10", "保险丝 10A（10只）", "Fuse 10 A (box of 10)", "pcs", None, 18),
    ("LFT-DRL", "厅门滚轮", "Landing door roller", "pcs", "elevator", 35),
    ("LFT-GSL", "导靴靴衬", "Guide shoe liner", "pcs", "elevator", 28),
    ("LFT-LCU", "光幕", "Light curtain", "set", "elevator", 1300),
    ("LFT-LED", "轿厢LED照明板", "Car LED light panel", "pcs", "elevator", 260),
    ("LFT-BTN", "外呼按钮", "Landing call button", "pcs", "elevator", 95),
    ("LFT-EBT", "应急照明电池", "Emergency light battery", "pcs", "elevator", 140),
    ("LFT-RLB", "钢丝绳润滑油", "Rope lubricant", "L", "elevator", 120),
    ("LFT-BRK", "制动器闸瓦", "Brake lining set", "set", "elevator", 980),
    ("LFT-DCT", "轿门门锁触点", "Car door contact", "pcs", "elevator", 160),
    ("LFT-OGS", "限速器开关", "Overspeed governor switch", "pcs", "elevator", 420),
    ("ESC-CMB", "梳齿板", "Comb plate segment", "pcs", "escalator", 210),
    ("ESC-SRL", "梯级滚轮", "Step roller", "pcs", "escalator", 45),
    ("ESC-SSW", "安全开关", "Safety switch", "pcs", "escalator", 180),
    ("ESC-HDR", "扶手驱动轮", "Handrail drive roller", "pcs", "escalator", 650),
    ("SPL-DRP", "冷凝水提升泵", "Condensate drain pump", "pcs", "split_ac", 320),
    ("SPL-C35", "运行电容 35µF", "Run capacitor 35 µF", "pcs", "split_ac", 28),
    ("SPL-C45", "运行电容 45µF", "Run capacitor 45 µF", "pcs", "split_ac", 32),
    ("SPL-EEV", "电子膨胀阀线圈", "EEV coil", "pcs", "split_ac", 110),
    ("SPL-CU38", '铜管 3/8"', 'Copper pipe 3/8"', "m", "split_ac", 32),
    ("SPL-CU58", '铜管 5/8"', 'Copper pipe 5/8"', "m", "split_ac", 55),
    ("SPL-FLR", "喇叭口螺母套装", "Flare nut set", "set", "split_ac", 40),
    ("SPL-WRC", "线控器", "Wired remote controller", "pcs", "split_ac", 380),
    ("GEN-TIE", "扎带（100条）", "Cable ties (pack of 100)", "pcs", None, 12),
    ("GEN-TAP", "绝缘胶带", "Insulation tape", "pcs", None, 6),
    ("GEN-TRM", "接线端子排", "Terminal block", "pcs", None, 24),
    ("GEN-RLY", "中间继电器 24VDC", "Relay 24 VDC", "pcs", None, 45),
)

# (category or "site", order type) -> titles (Chinese, English)
TITLES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("elevator", "repair"): (
        ("电梯困人", "Passenger entrapment"),
        ("电梯门无法关闭", "Doors fail to close"),
        ("平层不准", "Levelling inaccurate"),
        ("运行异响", "Abnormal noise in travel"),
        ("控制柜报故障码", "Controller fault code"),
        ("轿厢照明故障", "Car lighting failure"),
        ("电梯停梯", "Lift out of service"),
    ),
    ("escalator", "repair"): (
        ("扶梯急停", "Emergency stop tripped"),
        ("扶手带速度不同步", "Handrail speed mismatch"),
        ("梯级异响", "Step noise"),
        ("梳齿板损坏", "Damaged comb plate"),
    ),
    ("chiller", "repair"): (
        ("冷水机组高压报警", "High-pressure alarm"),
        ("出水温度偏高", "Leaving water temperature high"),
        ("压缩机跳闸", "Compressor trip"),
        ("疑似冷媒泄漏", "Suspected refrigerant leak"),
    ),
    ("ahu", "repair"): (
        ("风机皮带断裂", "Fan belt broken"),
        ("过滤网压差报警", "Filter differential-pressure alarm"),
        ("送风温度异常", "Supply air temperature out of range"),
    ),
    ("split_ac", "repair"): (
        ("空调不制冷", "No cooling"),
        ("室内机漏水", "Indoor unit leaking water"),
        ("多联机通讯故障", "VRF communication fault"),
    ),
    ("elevator", "maintenance"): (
        ("电梯半月保养", "Fortnightly lift maintenance"),
        ("电梯季度保养", "Quarterly lift maintenance"),
        ("电梯年度保养", "Annual lift maintenance"),
    ),
    ("escalator", "maintenance"): (
        ("扶梯半月保养", "Fortnightly escalator maintenance"),
        ("扶梯季度保养", "Quarterly escalator maintenance"),
    ),
    ("chiller", "maintenance"): (
        ("冷水机组换季保养", "Seasonal chiller service"),
        ("冷凝器清洗", "Condenser tube cleaning"),
    ),
    ("ahu", "maintenance"): (
        ("空调箱季度保养", "Quarterly AHU service"),
        ("更换过滤网", "Filter replacement"),
    ),
    ("split_ac", "maintenance"): (
        ("多联机换季保养", "Seasonal VRF service"),
        ("室内机清洗", "Indoor unit cleaning"),
    ),
    ("elevator", "inspection"): (
        ("年检前自检", "Pre-certification self-check"),
        ("特种设备年检陪检", "Annual statutory inspection escort"),
        ("安全回路检测", "Safety circuit test"),
    ),
    ("escalator", "inspection"): (
        ("特种设备年检陪检", "Annual statutory inspection escort"),
        ("制动距离测试", "Braking distance test"),
    ),
    ("chiller", "inspection"): (
        ("冷却塔水质检查", "Cooling tower water check"),
        ("压力容器年检", "Pressure vessel inspection"),
    ),
    ("ahu", "inspection"): (("空调箱运行巡检", "AHU condition check"),),
    ("split_ac", "inspection"): (("冷媒泄漏检测", "Refrigerant leak test"),),
    ("elevator", "installation"): (
        ("远程监控模块安装", "Remote monitoring module installation"),
        ("门机改造", "Door operator retrofit"),
        ("IC卡门禁系统安装", "Access-card reader installation"),
    ),
    ("escalator", "installation"): (("扶手带消毒装置安装", "Handrail UV steriliser installation"),),
    ("chiller", "installation"): (("群控系统安装", "Chiller plant controls installation"),),
    ("ahu", "installation"): (("新风模块加装", "Fresh-air module installation"),),
    ("split_ac", "installation"): (("室内机加装", "Additional indoor unit installation"),),
    ("site", "inspection"): (
        ("年度安全巡检", "Annual safety walk-through"),
        ("新项目现场勘察", "Site survey for a new contract"),
    ),
}
RESOLUTIONS: dict[str, tuple[str, ...]] = {
    "elevator": (
        "更换门机皮带并调整门刀间隙，试运行正常 Replaced door belt, adjusted vane; test runs OK",
        "重新校准平层并清洁光幕 Re-calibrated levelling and cleaned the light curtain",
        "更换编码器，故障码已清除 Replaced the encoder; fault code cleared",
        "完成保养项目并润滑导轨 Maintenance checklist done, guide rails lubricated",
        "救出被困乘客，安全回路检查正常 Passengers released; safety circuit checked OK",
    ),
    "escalator": (
        "更换两块梳齿板 Replaced two comb-plate segments",
        "调整扶手带张紧度 Adjusted handrail tension",
        "清洁梯级并润滑链条 Cleaned steps and lubricated the chain",
    ),
    "chiller": (
        "补充冷媒并检漏 Topped up refrigerant and leak-checked",
        "清洗冷凝器铜管 Cleaned condenser tubes",
        "更换高压传感器 Replaced the high-pressure transducer",
    ),
    "ahu": (
        "更换风机皮带 Replaced the fan belt",
        "更换初中效过滤器 Replaced G4/F7 filters",
        "校准送风温度传感器 Calibrated the supply-air sensor",
    ),
    "split_ac": (
        "疏通冷凝水管 Cleared the condensate drain",
        "更换室外机主板 Replaced the outdoor unit PCB",
        "补充冷媒至额定压力 Recharged refrigerant to rated pressure",
    ),
    "site": ("完成现场勘察并提交报告 Survey done, report submitted",),
}
HOLD_NOTES = {
    "parts": "待备件到货，已下单 Waiting for a part; ordered",
    "customer": "客户要求改期 Customer asked to postpone",
    "access": "无法进入机房，待物业开门 No machine-room access yet",
    "other": "等待特检院排期 Waiting for the inspection authority's slot",
}
CANCEL_REASONS = (
    "客户重复报修 Duplicate request",
    "客户已自行处理 Resolved by the customer",
    "设备不在维保合同范围 Equipment not under contract",
    "客户取消 Cancelled by the customer",
)
REOPEN_REASONS = (
    "故障复发 Fault recurred",
    "客户反馈仍有异响 Customer reports the noise persists",
    "服务报告缺少客户签字 Service report missing the customer's signature",
)
CONTACT_ROLES = (
    "设施经理 Facility manager",
    "工程部经理 Chief engineer",
    "物业前台 Front desk",
    "保安室 Security office",
    "采购 Purchasing",
)

# Custom fields on work orders for the Shanghai tenant: (key, label, type).
CUSTOM_FIELDS = (
    ("building_floor", "楼层 Floor", "integer"),
    ("access_card_required", "需要门禁卡 Access card required", "boolean"),
    ("contract_ref", "合同编号 Contract reference", "text"),
)


# --- checklist templates and knowledge base (fixed content: no random choices) -----------

# key, kind, label, required, kind-specific detail, typical answer (what demo orders record)
# detail: choices for "choice", (unit, min, max) for "number", None otherwise.
_ItemSpec = tuple[str, str, str, bool, Any, Any]


@dataclass(frozen=True)
class _ChecklistSpec:
    """A demo SOP checklist: what it applies to and its items."""

    name: str
    description: str
    order_types: tuple[str, ...]
    categories: tuple[str, ...]
    items: tuple[_ItemSpec, ...]
    active: bool = True
    version: int = 1


CHECKLISTS: tuple[_ChecklistSpec, ...] = (
    _ChecklistSpec(
        "现场安全确认 On-site safety check",
        "每张工单开工前完成 Complete before starting any job.",
        (),
        (),
        (
            ("ppe", "check", "穿戴安全帽、安全鞋 Helmet and safety shoes on", True, None, True),
            ("loto", "check", "已执行上锁挂牌 Lockout-tagout applied", True, None, True),
            ("barriers", "check", "设置警示围栏 Warning barriers set up", False, None, True),
        ),
    ),
    _ChecklistSpec(
        "电梯月度保养（旧版）Elevator monthly maintenance (superseded)",
        "已由半月保养表取代 Replaced by the fortnightly checklist.",
        ("maintenance",),
        ("elevator",),
        (
            ("brake", "check", "制动器检查 Brake check", True, None, True),
            ("doors", "check", "门系统检查 Door system check", True, None, True),
        ),
        active=False,
        version=2,
    ),
    _ChecklistSpec(
        "电梯半月保养 Elevator fortnightly maintenance",
        "按TSG T5002维保项目 Items per TSG T5002 maintenance rules.",
        ("maintenance",),
        ("elevator",),
        (
            ("machine_room", "check", "机房清洁、照明正常 Machine room clean and lit", False, None,
             True),
            ("brake", "check", "制动器动作灵活 Brake operates freely", True, None, True),
            ("brake_gap_mm", "number", "制动器闸瓦间隙 Brake shoe gap", True, ("mm", 0, 1.5), 0.4),
            ("rope_lube", "check", "钢丝绳及导轨润滑 Ropes and guide rails lubricated", True, None,
             True),
            ("doors", "choice", "层门/轿门开关状况 Landing and car doors",
             True, ("正常 OK", "需调整 Needs adjustment", "需更换部件 Parts needed"), "正常 OK"),
            ("levelling_mm", "number", "平层误差 Levelling error", True, ("mm", 0, 30), 3),
            ("alarm_test", "check", "五方通话及警铃测试 Intercom and alarm bell test", True, None,
             True),
            ("pit_photo", "photo", "底坑照片 Pit photo", False, None, None),
            ("notes", "text", "其他发现 Other findings", False, None, None),
        ),
    ),
    _ChecklistSpec(
        "扶梯半月保养 Escalator fortnightly maintenance",
        "停梯作业须设置围栏 Barrier both landings before stopping the unit.",
        ("maintenance",),
        ("escalator",),
        (
            ("comb_plates", "check", "梳齿板完好无断齿 Comb plates intact", True, None, True),
            ("handrail", "choice", "扶手带速度 Handrail speed", True,
             ("同步 In sync", "偏差<2% Deviation < 2%", "偏差≥2% Deviation ≥ 2%"), "同步 In sync"),
            ("step_chain", "check", "梯级链润滑 Step chain lubricated", True, None, True),
            ("estop", "check", "急停按钮测试 Emergency stop test", True, None, True),
            ("brake_distance_m", "number", "空载制停距离 No-load stopping distance", True,
             ("m", 0.1, 2.0), 0.6),
            ("notes", "text", "其他发现 Other findings", False, None, None),
        ),
    ),
    _ChecklistSpec(
        "冷水机组换季保养 Chiller seasonal service",
        "开机前及运行稳定后各记录一次 Record at start-up and once running steadily.",
        ("maintenance",),
        ("chiller",),
        (
            ("evap_kpa", "number", "蒸发压力 Evaporator pressure", True, ("kPa", 0, 2000), 350),
            ("cond_kpa", "number", "冷凝压力 Condenser pressure", True, ("kPa", 0, 3000), 900),
            ("chw_out_c", "number", "冷冻水出水温度 Chilled-water leaving temp.", True,
             ("°C", 0, 20), 7),
            ("oil_level", "choice", "油位 Oil level", True,
             ("正常 Normal", "偏低 Low", "偏高 High"), "正常 Normal"),
            ("leak_check", "check", "冷媒检漏 Refrigerant leak check", True, None, True),
            ("tubes", "choice", "冷凝器铜管状况 Condenser tubes", False,
             ("清洁 Clean", "轻度结垢 Light scale", "需清洗 Needs cleaning"), "清洁 Clean"),
            ("nameplate", "photo", "铭牌照片 Nameplate photo", False, None, None),
        ),
    ),
    _ChecklistSpec(
        "空调箱及多联机保养 AHU & VRF service",
        "过滤网压差超过250 Pa时更换 Replace filters above 250 Pa.",
        ("maintenance", "inspection"),
        ("ahu", "split_ac"),
        (
            ("filter_dp_pa", "number", "过滤器压差 Filter pressure drop", True, ("Pa", 0, 500),
             120),
            ("filters_replaced", "check", "已更换过滤网 Filters replaced", False, None, False),
            ("belt", "choice", "皮带张紧度 Belt tension", False,
             ("正常 OK", "已调整 Adjusted", "已更换 Replaced"), "正常 OK"),
            ("drain", "check", "冷凝水盘及排水畅通 Drain pan and drain clear", True, None, True),
            ("supply_c", "number", "送风温度 Supply air temperature", True, ("°C", 5, 40), 14),
            ("notes", "text", "其他发现 Other findings", False, None, None),
        ),
    ),
    _ChecklistSpec(
        "维修作业记录 Repair job record",
        "任何设备的故障维修 Breakdown repairs on any equipment.",
        ("repair",),
        (),
        (
            ("fault_seen", "check", "现场确认故障现象 Fault reproduced on site", True, None, True),
            ("root_cause", "choice", "故障原因 Root cause", True,
             ("部件老化 Wear", "人为损坏 Misuse or damage", "电气故障 Electrical",
              "调整不当 Misadjustment", "其他 Other"), "部件老化 Wear"),
            ("test_run", "check", "修复后试运行正常 Test run OK after repair", True, None, True),
            ("after_photo", "photo", "修复后照片 Photo after repair", False, None, None),
            ("notes", "text", "其他发现 Other findings", False, None, None),
        ),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class _ArticleSpec:
    """A demo knowledge-base article; models come from the categories' MODELS."""

    title: str
    body: str
    skills: tuple[str, ...]
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    published: bool = True


ARTICLES: tuple[_ArticleSpec, ...] = (
    _ArticleSpec(
        "上锁挂牌（LOTO）作业指引 Lockout-tagout guide",
        "## 何时 When\n\n任何接触运动部件或带电部件的作业。"
        " Any work near moving or live parts.\n\n"
        "## 步骤 Steps\n\n1. 通知业主 Tell the site contact.\n"
        "2. 断开主电源并上锁 Switch off and lock the main isolator.\n"
        "3. 挂牌写明姓名和时间 Tag it with your name and the time.\n"
        "4. 验电 Prove dead before touching anything.\n",
        (),
        (),
        ("安全 safety",),
    ),
    _ArticleSpec(
        "电梯困人救援操作规程 Passenger entrapment rescue",
        "## 原则 Principles\n\n先安抚乘客，再救援；全程保持通话。"
        " Reassure the passengers first and stay on the intercom.\n\n"
        "## 步骤 Steps\n\n1. 确认轿厢位置 Find the car position.\n"
        "2. 切断主电源 Cut main power (LOTO).\n"
        "3. 手动松闸盘车至平层 Release the brake and wind to the nearest floor.\n"
        "4. 用三角钥匙开门 Open the landing door with the triangle key.\n",
        ("elevator_mech",),
        ("elevator",),
        ("救援 rescue", "安全 safety"),
    ),
    _ArticleSpec(
        "冷水机组高压报警排查 Chiller high-pressure alarm",
        "## 常见原因 Usual causes\n\n- 冷却水流量不足 Low condenser water flow\n"
        "- 冷却塔风机故障 Cooling tower fan down\n- 冷凝器结垢 Fouled condenser tubes\n"
        "- 系统内不凝性气体 Non-condensables in the circuit\n\n"
        "## 检查 Checks\n\n先比较冷凝器进出水温差（正常约5 °C）。"
        " Compare condenser water ΔT first (about 5 °C when healthy).\n",
        ("hvac_chiller",),
        ("chiller",),
        ("报警 alarm", "冷水机组 chiller"),
    ),
    _ArticleSpec(
        "制冷剂回收与充注安全 Refrigerant recovery and charging",
        "持证上岗；回收瓶不超过80%容量。 Certified staff only; never fill a recovery"
        " cylinder beyond 80 %.\n\n- 称重充注 Charge by weight\n- 记录用量 Log the amount"
        " used against the order\n",
        ("refrigerant_cert",),
        (),
        ("制冷剂 refrigerant", "安全 safety"),
    ),
    _ArticleSpec(
        "多联机通讯故障速查 VRF communication faults",
        "| 现象 Symptom | 检查 Check |\n| --- | --- |\n"
        "| 全部室内机报通讯故障 All indoor units | 通讯线极性、终端电阻 Polarity, terminator |\n"
        "| 单台报故障 One unit | 地址拨码、接线端子 Address DIP switches, terminals |\n",
        ("hvac_split",),
        ("split_ac",),
        ("故障码 fault codes",),
    ),
    _ArticleSpec(
        "扶梯梳齿板更换（草稿）Escalator comb plate replacement (draft)",
        "待技术部审核 Awaiting review by the technical department.\n",
        ("escalator",),
        ("escalator",),
        ("扶梯 escalator",),
        published=False,
    ),
)


@dataclass(frozen=True)
class _District:
    """An area sites are drawn around, with the roads used in its addresses."""

    city: str
    cn: str
    en: str
    lat: float
    lon: float
    sigma: float
    territory: str
    weight: int
    roads: tuple[str, ...]


@dataclass(frozen=True)
class _TerritorySpec:
    """A territory's code, name and outer ring as (lat, lon) pairs."""

    code: str
    name: str
    ring: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class _Profile:
    """Everything that differs between the two demo companies."""

    slug: str
    name: str
    order_prefix: str
    territories: tuple[_TerritorySpec, ...]
    districts: tuple[_District, ...]
    staff: tuple[tuple[str, int], ...]
    specialties: tuple[tuple[str, int], ...]
    shift_patterns: tuple[tuple[str, int], ...]
    skills: tuple[str, ...]
    customers: int
    kinds: tuple[str, ...]
    categories: tuple[str, ...]
    generic_parts: tuple[str, ...] | None
    custom_fields: bool
    statuses: tuple[tuple[Status, int], ...]


# city, district, English gloss, lat, lon, spread (degrees), territory, weight, roads
_DistrictRow = tuple[str, str, str, float, float, float, str, int, str]
SHANGHAI_DISTRICTS: tuple[_DistrictRow, ...] = (
    ("上海市", "静安区", "Jing'an", 31.245, 121.455, 0.012, "PX-N", 3,
     "南京西路 延安中路 共和新路 江宁路 万航渡路"),
    ("上海市", "普陀区", "Putuo", 31.250, 121.400, 0.014, "PX-N", 2,
     "中山北路 曹杨路 长寿路 真北路 武宁路"),
    ("上海市", "虹口区", "Hongkou", 31.270, 121.485, 0.010, "PX-N", 2,
     "四川北路 大连路 曲阳路 东大名路 西江湾路"),
    ("上海市", "杨浦区", "Yangpu", 31.290, 121.515, 0.010, "PX-N", 2,
     "黄兴路 淞沪路 国定路 控江路 杨树浦路"),
    ("上海市", "宝山区", "Baoshan", 31.345, 121.445, 0.016, "PX-N", 2,
     "牡丹江路 友谊路 淞滨路 长江西路 殷高西路"),
    ("上海市", "黄浦区", "Huangpu", 31.212, 121.470, 0.006, "PX-S", 2,
     "淮海中路 西藏南路 复兴中路 中山南路 河南南路"),
    ("上海市", "徐汇区", "Xuhui", 31.180, 121.435, 0.012, "PX-S", 3,
     "漕溪北路 肇嘉浜路 虹桥路 宜山路 天钥桥路 龙华中路"),
    ("上海市", "长宁区", "Changning", 31.208, 121.400, 0.010, "PX-S", 2,
     "延安西路 仙霞路 天山路 遵义路 长宁路"),
    ("上海市", "闵行区", "Minhang", 31.110, 121.385, 0.020, "PX-S", 3,
     "沪闵路 七莘路 吴中路 莲花南路 都会路"),
    ("上海市", "浦东新区", "Lujiazui", 31.232, 121.520, 0.005, "PD", 2,
     "世纪大道 陆家嘴环路 浦东南路 东方路"),
    ("上海市", "浦东新区", "Zhangjiang", 31.205, 121.590, 0.012, "PD", 2, "碧波路 科苑路 祖冲之路"),
    ("上海市", "浦东新区", "Jinqiao", 31.265, 121.600, 0.010, "PD", 1, "金桥路 新金桥路 杨高中路"),
    ("上海市", "浦东新区", "Huamu", 31.210, 121.550, 0.008, "PD", 2, "花木路 锦绣路 龙阳路"),
    ("上海市", "浦东新区", "Sanlin", 31.150, 121.515, 0.010, "PD", 1, "上南路 三林路"),
    ("上海市", "浦东新区", "Waigaoqiao", 31.330, 121.590, 0.012, "PD", 1, "杨高北路 富特北路"),
    ("上海市", "浦东新区", "Chuansha", 31.190, 121.700, 0.012, "PD", 1, "川沙路 华夏东路"),
    ("上海市", "浦东新区", "Kangqiao", 31.140, 121.580, 0.010, "PD", 1, "康桥路 秀浦路"),
)  # fmt: skip
BEIJING_DISTRICTS: tuple[_DistrictRow, ...] = (
    ("北京市", "朝阳区", "CBD", 39.915, 116.460, 0.008, "BJ-CY", 2, "建国路 光华路 东三环中路"),
    ("北京市", "朝阳区", "Wangjing", 39.995, 116.475, 0.008, "BJ-CY", 1, "阜通东大街 望京街"),
    ("北京市", "朝阳区", "Sanlitun", 39.935, 116.455, 0.005, "BJ-CY", 1, "工体北路 三里屯路"),
)  # fmt: skip


def _districts(rows: Sequence[_DistrictRow]) -> tuple[_District, ...]:
    """Table rows to districts (roads are space-separated in the table)."""
    return tuple(
        _District(city, cn, en, lat, lon, sigma, territory, weight, tuple(roads.split()))
        for city, cn, en, lat, lon, sigma, territory, weight, roads in rows
    )


# The Huangpu river splits Puxi from Pudong; Yan'an Road roughly splits Puxi north/south.
_RIVER = ((31.225, 121.492), (31.245, 121.50), (31.255, 121.53), (31.285, 121.56), (31.33, 121.53))
SHENHU = _Profile(
    slug="shenhu",
    name="申沪机电服务 Shenhu Elevator & HVAC Service",
    order_prefix="WO",
    territories=(
        _TerritorySpec(
            "PX-N",
            "浦西北区 Puxi North",
            ((31.225, 121.30), *_RIVER, (31.40, 121.51), (31.40, 121.30)),
        ),
        _TerritorySpec(
            "PX-S",
            "浦西南区 Puxi South",
            (
                (31.05, 121.30),
                (31.05, 121.46),
                (31.15, 121.46),
                (31.19, 121.48),
                (31.225, 121.492),
                (31.225, 121.30),
            ),
        ),
        _TerritorySpec(
            "PD",
            "浦东 Pudong",
            (
                (31.05, 121.46),
                (31.05, 121.75),
                (31.40, 121.75),
                (31.40, 121.51),
                *reversed(_RIVER),
                (31.19, 121.48),
                (31.15, 121.46),
            ),
        ),
    ),
    districts=_districts(SHANGHAI_DISTRICTS),
    staff=(("admin", 1), ("dispatcher", 3), ("agent", 4)),
    specialties=(("lift", 12), ("hvac", 10), ("controls", 3)),
    shift_patterns=(("standard", 17), ("saturday", 4), ("split", 2), ("evening", 2)),
    skills=tuple(SKILLS),
    customers=200,
    kinds=tuple(KINDS),
    categories=("elevator", "escalator", "chiller", "ahu", "split_ac"),
    generic_parts=None,
    custom_fields=True,
    # Generation order: the statuses with the tightest timing (today, around "now") first.
    statuses=(
        (Status.ON_SITE, 10),
        (Status.EN_ROUTE, 6),
        (Status.ACCEPTED, 12),
        (Status.DISPATCHED, 20),
        (Status.SCHEDULED, 47),
        (Status.COMPLETED, 25),
        (Status.REOPENED, 7),
        (Status.CLOSED, 97),
        (Status.ON_HOLD, 18),
        (Status.CANCELLED, 16),
        (Status.TRIAGED, 22),
        (Status.NEW, 20),
    ),
)
COOLAIR = _Profile(
    slug="coolair",
    name="北京酷风空调服务有限公司 Beijing Cool Air Ltd",
    order_prefix="CA",
    territories=(
        _TerritorySpec(
            "BJ-CY",
            "朝阳区 Chaoyang",
            ((39.87, 116.42), (39.87, 116.56), (40.03, 116.56), (40.03, 116.42)),
        ),
    ),
    districts=_districts(BEIJING_DISTRICTS),
    staff=(("admin", 1), ("dispatcher", 1)),
    specialties=(("hvac", 2),),
    shift_patterns=(("standard", 1), ("saturday", 1)),
    skills=("hvac_chiller", "hvac_airside", "hvac_split", "refrigerant_cert", "electrical"),
    customers=5,
    kinds=("office", "hotel", "mall", "datacenter", "hospital"),
    categories=("chiller", "ahu", "split_ac"),
    generic_parts=("RF-R410A", "RF-R32", "FLT-G4-595", "BLT-SPA1250", "ELC-CT09", "SPL-DRP"),
    custom_fields=False,
    statuses=(
        (Status.ON_SITE, 1),
        (Status.SCHEDULED, 2),
        (Status.COMPLETED, 1),
        (Status.CLOSED, 3),
        (Status.CANCELLED, 1),
        (Status.TRIAGED, 1),
        (Status.NEW, 1),
    ),
)
PROFILES = (SHENHU, COOLAIR)

SHIFT_PATTERNS: dict[str, tuple[tuple[int, dt.time, dt.time], ...]] = {
    "standard": tuple((d, dt.time(8, 30), dt.time(17, 30)) for d in range(5)),
    "saturday": tuple((d, dt.time(8, 30), dt.time(17, 30)) for d in range(5))
    + ((5, dt.time(9, 0), dt.time(15, 0)),),
    "split": tuple(
        (d, start, end)
        for d in range(5)
        for start, end in ((dt.time(7, 0), dt.time(11, 0)), (dt.time(14, 0), dt.time(19, 0)))
    ),
    "evening": tuple((d, dt.time(14, 0), dt.time(22, 0)) for d in range(5)),
}


# --- small helpers ----------------------------------------------------------------------


class _Ids:
    """Deterministic primary keys: uuid5 of "<tenant slug>/<kind>/<running number>"."""

    def __init__(self, slug: str) -> None:
        self._slug = slug
        self._counts: Counter[str] = Counter()

    def __call__(self, kind: str) -> uuid.UUID:
        self._counts[kind] += 1
        return uuid.uuid5(_NAMESPACE, f"{self._slug}/{kind}/{self._counts[kind]}")


def _utc_iso(value: dt.datetime) -> str:
    """ISO-8601 in UTC, as the API writes datetimes into event payloads."""
    return value.astimezone(dt.UTC).isoformat()


def _checklist_item(spec: _ItemSpec) -> dict[str, Any]:
    """A checklist item in the stored shape (every field present, null where unused)."""
    key, kind, label, required, detail, _ = spec
    unit, low, high = detail if kind == "number" else (None, None, None)
    return {
        "key": key,
        "label": label,
        "kind": kind,
        "required": required,
        "choices": list(detail) if kind == "choice" else None,
        "unit": unit,
        "min": None if low is None else float(low),
        "max": None if high is None else float(high),
    }


def _ceil5(value: dt.datetime) -> dt.datetime:
    """Round up to the next 5 minutes (schedules look hand-made)."""
    value = value.replace(second=0, microsecond=0)
    return value + dt.timedelta(minutes=-value.minute % 5)


def _ascii(text: str) -> str:
    """Lower-case letters and digits only (for e-mail addresses)."""
    return re.sub(r"[^a-z0-9]+", "", text.lower())


@dataclass
class _Tech:
    """A technician row plus what the generator needs to know about them."""

    row: Technician
    user: User
    levels: dict[str, int]
    territories: tuple[str, ...]
    home: Point
    shifts: dict[int, list[tuple[dt.time, dt.time]]]
    max_jobs: int


@dataclass
class _Site:
    """A site row plus its position, territory and installed units."""

    row: Site
    customer: Customer
    point: Point
    territory: str
    kind: str
    contract_ref: str
    units: list[_Unit] = field(default_factory=list)


@dataclass
class _Unit:
    """A top-level equipment row and the site it is installed at."""

    row: Equipment
    category: str
    site: _Site
    short: str


@dataclass
class _Visit:
    """One booked trip of the lead technician (and helpers) to the order's site."""

    tech: _Tech
    start: dt.datetime
    end: dt.datetime
    helpers: list[_Tech] = field(default_factory=list)


@dataclass
class _Step:
    """One history entry to be written; ``to`` is None for a helper assignment."""

    to: Status | None
    actor: User
    at: dt.datetime | None = None
    want: dt.datetime | None = None
    gap: tuple[int, int] = (5, 60)
    payload: dict[str, Any] = field(default_factory=dict)
    where: Point | None = None
    accuracy_m: float | None = None
    visit: _Visit | None = None
    source: Status | None = None


@dataclass
class _Draft:
    """A work order while it is being generated."""

    status: Status
    order_type: str
    minutes: int
    site: _Site | None = None
    unit: _Unit | None = None
    order: WorkOrder | None = None
    visits: list[_Visit] = field(default_factory=list)
    steps: list[_Step] = field(default_factory=list)
    created: dt.datetime = NOW
    creator: User | None = None


class _Calendar:
    """Bookings per technician and local day, so generated schedules never overlap."""

    def __init__(self, tz: ZoneInfo, rng: random.Random) -> None:
        self._tz = tz
        self._rng = rng
        self._taken: dict[tuple[uuid.UUID, dt.date], list[tuple[dt.datetime, dt.datetime]]] = {}

    def find(
        self,
        tech: _Tech,
        day: dt.date,
        minutes: int,
        earliest: dt.datetime | None = None,
        latest_start: dt.datetime | None = None,
    ) -> tuple[dt.datetime, dt.datetime] | None:
        """The first free slot of ``minutes`` inside the technician's shifts that day."""
        taken = sorted(self._taken.get((tech.row.id, day), []))
        if len(taken) >= tech.max_jobs:
            return None
        length = dt.timedelta(minutes=minutes)
        for begin, finish in tech.shifts.get(day.weekday(), []):
            window_end = dt.datetime.combine(day, finish, tzinfo=self._tz)
            # A random late start so not every job begins on the shift's first minute.
            cursor = dt.datetime.combine(day, begin, tzinfo=self._tz) + dt.timedelta(
                minutes=15 * self._rng.randint(0, 6)
            )
            if earliest is not None and earliest > cursor:
                cursor = _ceil5(earliest)
            for booked_start, booked_end in taken:
                if cursor + length + _TRAVEL <= booked_start:
                    break
                if cursor < booked_end + _TRAVEL:
                    cursor = booked_end + _TRAVEL
            fits = cursor + length <= window_end
            if fits and (latest_start is None or cursor <= latest_start):
                return cursor, cursor + length
        return None

    def is_free(self, tech: _Tech, start: dt.datetime, end: dt.datetime) -> bool:
        """True when the technician is on shift and unbooked for the whole interval."""
        day = start.astimezone(self._tz).date()
        taken = self._taken.get((tech.row.id, day), [])
        if len(taken) >= tech.max_jobs:
            return False
        on_shift = any(
            dt.datetime.combine(day, begin, tzinfo=self._tz) <= start
            and end <= dt.datetime.combine(day, finish, tzinfo=self._tz)
            for begin, finish in tech.shifts.get(day.weekday(), [])
        )
        clear = all(end + _TRAVEL <= s or e + _TRAVEL <= start for s, e in taken)
        return on_shift and clear

    def reserve(self, tech: _Tech, start: dt.datetime, end: dt.datetime) -> None:
        """Mark the interval as booked."""
        day = start.astimezone(self._tz).date()
        self._taken.setdefault((tech.row.id, day), []).append((start, end))


# --- the generator ----------------------------------------------------------------------


class _TenantBuilder:
    """Generates one demo company's rows with the shared random stream."""

    def __init__(self, profile: _Profile, rng: random.Random, password_hash: str) -> None:
        self.p = profile
        self.rng = rng
        self.password_hash = password_hash
        self.tz = SHANGHAI
        self.ids = _Ids(profile.slug)
        self.today = NOW.astimezone(self.tz).date()
        self.calendar = _Calendar(self.tz, rng)
        self.used_names: set[str] = set()
        self.tenant = Tenant(
            id=self.ids("tenant"),
            slug=profile.slug,
            name=profile.name,
            timezone="Asia/Shanghai",
            order_prefix=profile.order_prefix,
            created_at=ONBOARDED,
            updated_at=ONBOARDED,
        )
        self.users: list[User] = []
        self.staff: dict[str, list[User]] = {}
        self.skills: dict[str, Skill] = {}
        self.territories: dict[str, tuple[Territory, Any]] = {}
        self.fields: list[CustomFieldDefinition] = []
        self.parts: list[Part] = []
        self.techs: list[_Tech] = []
        self.customers: list[Customer] = []
        self.sites: list[_Site] = []
        self.units: list[_Unit] = []
        self.components: list[Equipment] = []
        self.revisions: list[EquipmentConfigRevision] = []
        self.drafts: list[_Draft] = []
        self.events: list[WorkOrderEvent] = []
        self.usages: list[PartUsage] = []
        self.counters: list[WorkOrderCounter] = []
        self.checklists: list[ChecklistTemplate] = []
        self._checklist_specs: dict[uuid.UUID, _ChecklistSpec] = {}
        self.articles: list[KbArticle] = []
        self._reach: dict[uuid.UUID, list[_Unit]] = {}
        self._serials: set[str] = set()

    # -- people ---------------------------------------------------------------------------

    def person(self) -> tuple[str, str, str]:
        """A new unique Chinese name: (display "王伟 (Wang Wei)", given pinyin, surname)."""
        while True:
            sur_cn, sur_py = self.rng.choice(SURNAMES)
            giv_cn, giv_py = self.rng.choice(GIVEN_NAMES)
            display = f"{sur_cn}{giv_cn} ({sur_py} {giv_py})"
            if display not in self.used_names:
                self.used_names.add(display)
                return display, giv_py, sur_py

    def phone(self) -> str:
        """A plausible mainland mobile number."""
        prefix = self.rng.choice(("135", "136", "137", "138", "139", "186", "187", "158"))
        return f"+86 {prefix} {self.rng.randint(0, 9999):04d} {self.rng.randint(0, 9999):04d}"

    def user(self, role: str, email: str, name: str) -> User:
        """A demo account sharing the demo password hash."""
        row = User(
            id=self.ids("user"),
            tenant_id=self.tenant.id,
            email=email,
            name=name,
            role=role,
            # One Argon2 hash reused for every demo user: it embeds its own salt, and
            # hashing dozens of accounts at production cost would make seeding slow.
            password_hash=self.password_hash,
            is_active=True,
            created_at=ONBOARDED,
            updated_at=ONBOARDED,
        )
        self.users.append(row)
        return row

    def build_staff(self) -> None:
        """Office accounts: admin@, dispatcher1@, agent1@ ..."""
        for role, count in self.p.staff:
            for i in range(1, count + 1):
                local = role if count == 1 and role == "admin" else f"{role}{i}"
                name, _, _ = self.person()
                row = self.user(role, f"{local}@{self.p.slug}.example", name)
                self.staff.setdefault(role, []).append(row)

    def office(self, role: str) -> User:
        """A random office user of a role; small tenants fall back to their dispatcher."""
        pool = self.staff.get(role) or self.staff["dispatcher"]
        return self.rng.choice(pool)

    # -- reference data -------------------------------------------------------------------

    def build_reference(self) -> None:
        """Skills, territories, custom field definitions and the parts catalogue."""
        for code in self.p.skills:
            cn, en = SKILLS[code]
            self.skills[code] = Skill(
                id=self.ids("skill"),
                tenant_id=self.tenant.id,
                code=code,
                name=f"{cn} {en}",
                created_at=ONBOARDED,
                updated_at=ONBOARDED,
            )
        for spec in self.p.territories:
            ring = [Point(lat=lat, lon=lon) for lat, lon in spec.ring]
            row = Territory(
                id=self.ids("territory"),
                tenant_id=self.tenant.id,
                code=spec.code,
                name=spec.name,
                boundary=polygon_element(ring),
                created_at=ONBOARDED,
                updated_at=ONBOARDED,
            )
            self.territories[spec.code] = (row, Polygon([(p.lon, p.lat) for p in ring]))
        if self.p.custom_fields:
            for key, label, field_type in CUSTOM_FIELDS:
                self.fields.append(
                    CustomFieldDefinition(
                        id=self.ids("custom_field"),
                        tenant_id=self.tenant.id,
                        entity="work_order",
                        key=key,
                        label=label,
                        field_type=field_type,
                        required=False,
                        options=None,
                        active=True,
                        created_at=ONBOARDED,
                        updated_at=ONBOARDED,
                    )
                )
        self.build_parts()

    def part(self, sku: str, name: str, unit: str, serialized: bool, cost: float) -> Part:
        """One catalogue entry; the price is cost plus a 30-80 % margin."""
        unit_cost = Decimal(str(round(cost, 2))).quantize(Decimal("0.01"))
        margin = Decimal(str(round(self.rng.uniform(1.3, 1.8), 2)))
        row = Part(
            id=self.ids("part"),
            tenant_id=self.tenant.id,
            sku=sku,
            name=name,
            unit=unit,
            serialized=serialized,
            unit_cost=unit_cost,
            unit_price=(unit_cost * margin).quantize(Decimal("0.01")),
            compatible_models=[],
            active=True,
            created_at=ONBOARDED,
            updated_at=ONBOARDED,
        )
        self.parts.append(row)
        return row

    def build_parts(self) -> None:
        """Model-specific spares (boards, motors, compressors) and shared consumables."""
        if self.p.generic_parts is None:
            for category in self.p.categories:
                for family, cn, en, unit, serialized, low, high in MODEL_PARTS[category]:
                    for maker, model, code in MODELS[category]:
                        cost = self.rng.randint(low // 10, high // 10) * 10
                        row = self.part(
                            f"{family}-{code}",
                            f"{cn} {en} ({maker} {model})",
                            unit,
                            serialized,
                            cost,
                        )
                        row.compatible_models = [model]
        wanted = self.p.generic_parts
        for sku, name_cn, name_en, measure, fits, price in GENERIC_PARTS:
            if wanted is not None and sku not in wanted:
                continue
            row = self.part(sku, f"{name_cn} {name_en}", measure, False, price)
            if fits is not None:
                row.compatible_models = [model for _, model, _ in MODELS[fits]]

    # -- places ---------------------------------------------------------------------------

    def place(self, district: _District) -> Point:
        """A point near the district centre, well inside the district's territory."""
        polygon = self.territories[district.territory][1]
        for _ in range(200):
            lat = round(self.rng.gauss(district.lat, district.sigma), 6)
            lon = round(self.rng.gauss(district.lon, district.sigma * 1.15), 6)
            candidate = ShapelyPoint(lon, lat)
            # Keep clear of the edges so "which territory contains this" is unambiguous.
            if polygon.contains(candidate) and polygon.exterior.distance(candidate) > 0.002:
                return Point(lat=lat, lon=lon)
        return Point(lat=district.lat, lon=district.lon)

    def district(self) -> _District:
        """A district, weighted by how much business it has."""
        districts = self.p.districts
        return self.rng.choices(districts, weights=[d.weight for d in districts])[0]

    def address(self, district: _District, kind: str) -> str:
        """A Chinese-style street address."""
        road = self.rng.choice(district.roads)
        number = self.rng.randint(1, 1999)
        unit = "弄" if kind == "residential" else "号"
        return f"{district.city}{district.cn}{road}{number}{unit}"

    def near(self, point: Point, metres: float) -> Point:
        """A point within about ``metres`` of another (GPS scatter)."""
        dlat = metres / 111_320 * self.rng.uniform(-1, 1)
        dlon = metres / (111_320 * math.cos(math.radians(point.lat))) * self.rng.uniform(-1, 1)
        return Point(lat=round(point.lat + dlat, 6), lon=round(point.lon + dlon, 6))

    # -- technicians ----------------------------------------------------------------------

    def levels(self, specialty: str) -> dict[str, int]:
        """Skill levels (1-5) for a technician of a specialty, limited to the tenant's skills."""
        r = self.rng
        wanted: list[tuple[str, float, int, int]] = {
            "lift": [
                ("elevator_mech", 1.0, 2, 5),
                ("elevator_ctrl", 0.8, 1, 4),
                ("escalator", 0.7, 1, 4),
                ("electrical", 0.5, 1, 3),
            ],
            "hvac": [
                ("hvac_chiller", 0.85, 1, 5),
                ("hvac_split", 1.0, 2, 5),
                ("hvac_airside", 1.0, 2, 4),
                ("refrigerant_cert", 0.85, 2, 4),
                ("electrical", 0.6, 1, 3),
                ("plc", 0.3, 1, 2),
            ],
            "controls": [
                ("electrical", 1.0, 3, 5),
                ("plc", 1.0, 3, 5),
                ("elevator_ctrl", 1.0, 2, 4),
                ("hvac_airside", 1.0, 1, 3),
            ],
        }[specialty]
        result: dict[str, int] = {}
        for code, chance, low, high in wanted:
            if r.random() < chance and code in self.skills:
                result[code] = r.randint(low, high)
        return result

    def build_technicians(self) -> None:
        """Technicians with users, skills, home bases, territories and weekly shifts."""
        codes = list(self.territories)
        patterns = [name for name, count in self.p.shift_patterns for _ in range(count)]
        self.rng.shuffle(patterns)
        specialties: list[tuple[str, int]] = []
        for specialty, count in self.p.specialties:
            # Round-robin per specialty so every territory has lift and HVAC people.
            specialties.extend((specialty, i % len(codes)) for i in range(count))
        self.rng.shuffle(specialties)
        districts_by_territory: dict[str, list[_District]] = {}
        for d in self.p.districts:
            districts_by_territory.setdefault(d.territory, []).append(d)
        for number, ((specialty, home_index), pattern) in enumerate(
            zip(specialties, patterns, strict=True), start=1
        ):
            home_code = codes[home_index]
            covered = [home_code]
            if len(codes) > 1 and self.rng.random() < 0.35:
                covered.append(self.rng.choice([c for c in codes if c != home_code]))
            name, _, _ = self.person()
            user = self.user("technician", f"tech{number:02d}@{self.p.slug}.example", name)
            home = self.place(self.rng.choice(districts_by_territory[home_code]))
            levels = self.levels(specialty)
            row = Technician(
                id=self.ids("technician"),
                tenant_id=self.tenant.id,
                user_id=user.id,
                name=name,
                phone=self.phone(),
                home_base=point_element(home),
                max_jobs_per_day=self.rng.randint(4, 8),
                active=True,
                created_at=ONBOARDED,
                updated_at=ONBOARDED,
            )
            for code, level in levels.items():
                row.skills.append(
                    TechnicianSkill(
                        tenant_id=self.tenant.id,
                        technician_id=row.id,
                        skill_id=self.skills[code].id,
                        level=level,
                    )
                )
            row.territories.extend(self.territories[c][0] for c in covered)
            shifts: dict[int, list[tuple[dt.time, dt.time]]] = {}
            for weekday, start, end in SHIFT_PATTERNS[pattern]:
                row.shifts.append(
                    Shift(
                        id=self.ids("shift"),
                        tenant_id=self.tenant.id,
                        technician_id=row.id,
                        weekday=weekday,
                        start_time=start,
                        end_time=end,
                    )
                )
                shifts.setdefault(weekday, []).append((start, end))
            self.techs.append(
                _Tech(row, user, levels, tuple(covered), home, shifts, row.max_jobs_per_day)
            )

    # -- customers, sites, equipment ------------------------------------------------------

    def contacts(self, domain: str) -> list[dict[str, Any]]:
        """One to three contacts, exactly one of them primary."""
        result = []
        roles = self.rng.sample(CONTACT_ROLES, self.rng.randint(1, 3))
        for i, role in enumerate(roles):
            display, given, surname = self.person()
            result.append(
                {
                    "name": display,
                    "phone": self.phone(),
                    "email": f"{_ascii(given)}.{_ascii(surname)}@{domain}",
                    "role": role,
                    "primary": i == 0,
                }
            )
        return result

    def build_customers(self) -> None:
        """Customers (about 15 % VIP) and their 1-3 sites with equipment."""
        names: set[str] = set()
        kinds = self.p.kinds
        for number in range(1, self.p.customers + 1):
            # Small tenants list their kinds in order so each shows up once.
            if len(kinds) >= self.p.customers:
                kind_name = kinds[number - 1]
            else:
                kind_name = self.rng.choices(kinds, weights=[KINDS[k].weight for k in kinds])[0]
            kind = KINDS[kind_name]
            n_sites = self.rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
            while True:
                prefix_cn, prefix_en = self.rng.choice(PREFIXES)
                suffix_cn, suffix_en = self.rng.choice(kind.suffixes)
                if n_sites == 1:
                    name = f"{prefix_cn}{suffix_cn} {prefix_en} {suffix_en}"
                else:
                    name = f"{prefix_cn}{kind.group[0]} {prefix_en} {kind.group[1]}"
                if name not in names:
                    names.add(name)
                    break
            tier = "vip" if self.rng.random() < 0.15 else "standard"
            contract_ref = f"MC-{self.rng.choice((2024, 2025))}-{number:04d}"
            note = f"维保合同 Maintenance contract {contract_ref}"
            if tier == "vip":
                note += "；VIP：4小时到场 VIP: on site within 4 hours"
            customer = Customer(
                id=self.ids("customer"),
                tenant_id=self.tenant.id,
                code=f"C{number:05d}",
                name=name,
                tier=tier,
                contacts=self.contacts(f"{_ascii(prefix_en)}-{kind_name}.example"),
                notes=note,
                created_at=ONBOARDED,
                updated_at=ONBOARDED,
            )
            self.customers.append(customer)
            for i in range(n_sites):
                district = self.district()
                if n_sites == 1:
                    site_name = name
                else:
                    site_name = (
                        f"{prefix_cn}{suffix_cn}（{district.cn}{i + 1}号） "
                        f"{prefix_en} {suffix_en} {district.en} #{i + 1}"
                    )
                self.add_site(customer, kind_name, site_name, district, contract_ref)

    def add_site(
        self, customer: Customer, kind: str, name: str, district: _District, contract_ref: str
    ) -> None:
        """One site, placed inside its district's territory, with its equipment."""
        point = self.place(district)
        spot = ShapelyPoint(point.lon, point.lat)
        containing = [code for code, (_, poly) in self.territories.items() if poly.contains(spot)]
        territory = containing[0] if containing else district.territory
        row = Site(
            id=self.ids("site"),
            tenant_id=self.tenant.id,
            customer_id=customer.id,
            name=name,
            address=self.address(district, kind),
            location=point_element(point),
            access_notes=self.rng.choice(KINDS[kind].access),
            timezone="Asia/Shanghai",
            territory_id=self.territories[territory][0].id,
            created_at=ONBOARDED,
            updated_at=ONBOARDED,
        )
        site = _Site(row, customer, point, territory, kind, contract_ref)
        self.sites.append(site)
        mix = [(c, w) for c, w in KINDS[kind].equipment if c in self.p.categories]
        count = self.rng.choices((1, 2, 3), weights=(84, 13, 3))[0]
        numbers: Counter[str] = Counter()
        for _ in range(count):
            category = self.rng.choices([c for c, _ in mix], weights=[w for _, w in mix])[0]
            numbers[category] += 1
            self.add_unit(site, category, numbers[category])

    def serial(self, maker: str, year: int) -> str:
        """A serial number unique within the tenant."""
        while True:
            serial = f"{MAKER_CODE[maker]}{year % 100:02d}{self.rng.randint(0, 999_999):06d}"
            if serial not in self._serials:
                self._serials.add(serial)
                return serial

    def configuration(self, category: str, model: str, kind: str) -> dict[str, Any]:
        """A model-plausible initial configuration."""
        r = self.rng
        fw = f"v{r.randint(2, 5)}.{r.randint(0, 9)}.{r.randint(0, 20)}"
        if category == "elevator":
            floors = r.randint(6, 18) if kind in ("residential", "factory") else r.randint(8, 48)
            speed = 1.0 if floors < 10 else 1.75 if floors < 20 else 2.5 if floors < 35 else 4.0
            capacity = 2000 if kind == "factory" else r.choice((800, 1000, 1050, 1350, 1600))
            return {
                "floors": floors,
                "stops": floors - r.randint(0, 2),
                "speed_mps": speed,
                "capacity_kg": capacity,
                "controller_fw": fw,
                "machine_room": model not in ("MonoSpace 500", "3300"),
                "door_type": r.choice(("center-opening", "side-opening")),
            }
        if category == "escalator":
            return {
                "rise_m": round(r.uniform(4.2, 9.0), 1),
                "step_width_mm": r.choice((600, 800, 1000)),
                "speed_mps": 0.5,
                "inclination_deg": r.choice((30, 35)),
                "controller_fw": fw,
            }
        if category == "chiller":
            return {
                "tonnage_rt": r.choice((200, 300, 400, 500, 650, 800, 1000, 1200)),
                "refrigerant": CHILLER_REFRIGERANT[model],
                "compressor": "screw" if model in ("30XA",) else "centrifugal",
                "chw_setpoint_c": 7.0,
                "controller_fw": fw,
            }
        if category == "ahu":
            return {
                "airflow_m3h": r.randint(5, 40) * 1000,
                "filter_class": r.choice(("G4", "G4+F7", "G4+F8")),
                "fan_kw": r.choice((3.0, 5.5, 7.5, 11.0, 15.0, 22.0)),
                "supply_setpoint_c": r.choice((16.0, 17.0, 18.0)),
            }
        return {
            "capacity_kw": r.choice((22.4, 28.0, 33.5, 45.0, 56.0, 73.0, 90.0)),
            "refrigerant": r.choice(("R-410A", "R-410A", "R-32")),
            "indoor_units": r.randint(4, 24),
            "controller_fw": fw,
        }

    def equipment_names(self, category: str, n: int, kind: str) -> tuple[str, str]:
        """(full bilingual name, short Chinese name) of the n-th unit of a category."""
        if category == "elevator" and kind == "factory":
            cn, en = f"{n}号货梯", f"Freight lift {n}"
        elif category == "elevator":
            cn, en = f"{n}号客梯", f"Passenger lift {n}"
        elif category == "escalator":
            cn, en = f"{n}号扶梯", f"Escalator E{n}"
        elif category == "chiller":
            cn, en = f"{n}#冷水机组", f"Chiller CH-{n}"
        elif category == "ahu":
            cn, en = f"{n}#空调箱", f"Air handling unit AHU-{n:02d}"
        else:
            cn, en = f"{n}#多联机", f"VRF system {n}"
        return f"{cn} {en}", cn

    def add_unit(self, site: _Site, category: str, n: int) -> None:
        """One unit; some get a child component (door operator, compressor)."""
        r = self.rng
        maker, model, _ = r.choice(MODELS[category])
        if r.random() < 0.25:  # recent installs are still under warranty at the anchor
            installed = dt.date(2024, 1, 1) + dt.timedelta(days=r.randint(0, 545))
            warranty_years = 3
        else:
            installed = dt.date(2009, 1, 1) + dt.timedelta(days=r.randint(0, 5450))
            warranty_years = r.choice((1, 2, 2, 5))
        # Same calendar day N years later (28th for 29 February).
        warranty_end = installed.replace(
            year=installed.year + warranty_years, day=min(installed.day, 28)
        )
        name, short = self.equipment_names(category, n, site.kind)
        row = Equipment(
            id=self.ids("equipment"),
            tenant_id=self.tenant.id,
            site_id=site.row.id,
            customer_id=site.customer.id,
            parent_id=None,
            name=name,
            category=category,
            manufacturer=maker,
            model=model,
            serial_number=self.serial(maker, installed.year),
            install_date=installed,
            warranty_end=warranty_end,
            status="in_service",
            configuration=self.configuration(category, model, site.kind),
            config_revision=1,
            created_at=ONBOARDED,
            updated_at=ONBOARDED,
        )
        unit = _Unit(row, category, site, short)
        site.units.append(unit)
        self.units.append(unit)
        if category == "elevator" and r.random() < 0.12:
            door_maker, door_model = r.choice((("Wittur", "Midi Supra"), ("Fermator", "VVVF-4+")))
            self.add_component(
                unit,
                f"{short}门机 Door operator",
                "door_operator",
                door_maker,
                door_model,
                {"operator": "VVVF", "door_width_mm": r.choice((800, 900, 1000, 1100))},
            )
        elif category == "chiller" and r.random() < 0.4:
            self.add_component(
                unit,
                f"{short}压缩机 Compressor",
                "compressor",
                maker,
                f"{model} compressor",
                {"type": row.configuration["compressor"], "rated_kw": r.randint(150, 400)},
            )

    def add_component(
        self,
        parent: _Unit,
        name: str,
        category: str,
        maker: str,
        model: str,
        configuration: dict[str, Any],
    ) -> None:
        """A child unit installed with its parent."""
        installed = parent.row.install_date
        assert installed is not None
        self.components.append(
            Equipment(
                id=self.ids("equipment"),
                tenant_id=self.tenant.id,
                site_id=parent.row.site_id,
                customer_id=parent.row.customer_id,
                parent_id=parent.row.id,
                name=name,
                category=category,
                manufacturer=maker,
                model=model,
                serial_number=self.serial(maker, installed.year),
                install_date=installed,
                warranty_end=parent.row.warranty_end,
                status="in_service",
                configuration=configuration,
                config_revision=1,
                created_at=ONBOARDED,
                updated_at=ONBOARDED,
            )
        )

    # -- work orders: choosing what, who and when -----------------------------------------

    def reach(self, tech: _Tech) -> list[_Unit]:
        """Units in the technician's territories that their primary skills cover."""
        if tech.row.id not in self._reach:
            self._reach[tech.row.id] = [
                u
                for u in self.units
                if u.site.territory in tech.territories
                and tech.levels.get(CATEGORY_SKILLS[u.category][0], 0) >= 1
            ]
        return self._reach[tech.row.id]

    def days(self, first: int, last: int) -> list[dt.date]:
        """Days from today+first to today+last, in random order."""
        offsets = list(range(first, last + 1))
        self.rng.shuffle(offsets)
        return [self.today + dt.timedelta(days=o) for o in offsets]

    def book(
        self,
        d: _Draft,
        days: Sequence[dt.date],
        *,
        earliest: dt.datetime | None = None,
        latest_start: dt.datetime | None = None,
        reserve: bool = True,
        tech: _Tech | None = None,
    ) -> _Visit | None:
        """Find a technician and slot; the first visit also decides the site and unit."""
        pool = [tech] if tech else self.rng.sample(self.techs, len(self.techs))
        for day in days:
            for candidate in pool:
                if d.unit is None and d.site is None and not self.reach(candidate):
                    continue
                slot = self.calendar.find(candidate, day, d.minutes, earliest, latest_start)
                if slot is None:
                    continue
                if d.site is None:
                    self.target_for(d, candidate)
                visit = _Visit(candidate, slot[0], slot[1])
                if reserve:
                    self.calendar.reserve(candidate, *slot)
                d.visits.append(visit)
                return visit
        return None

    def must_book(self, d: _Draft, days: Sequence[dt.date], **kw: Any) -> _Visit:
        """``book`` for statuses that cannot exist without a visit."""
        visit = self.book(d, days, **kw)
        if visit is None:
            raise RuntimeError(f"demo seed: no technician free for a {d.status} order")
        return visit

    def target_for(self, d: _Draft, tech: _Tech) -> None:
        """Pick a unit the technician can service (or a whole site, for surveys)."""
        units = self.reach(tech)
        unit = self.rng.choice(units)
        d.site = unit.site
        if d.order_type == "inspection" and self.rng.random() < 0.15:
            return
        d.unit = unit

    def target_anywhere(self, d: _Draft) -> None:
        """Pick any unit (or a whole site, for surveys) for an order nobody plans yet."""
        unit = self.rng.choice(self.units)
        d.site = unit.site
        if not (d.order_type == "inspection" and self.rng.random() < 0.15):
            d.unit = unit

    def add_helpers(self, d: _Draft) -> None:
        """Installations (and some big jobs) get a second technician for every visit."""
        if not d.visits or d.unit is None:
            return
        if d.order_type != "installation" and self.rng.random() > 0.1:
            return
        lead = d.visits[0].tech
        primary = CATEGORY_SKILLS[d.unit.category][0]
        candidates = [
            t
            for t in self.techs
            if t is not lead
            and t.levels.get(primary, 0) >= 1
            and set(t.territories) & set(lead.territories)
        ]
        self.rng.shuffle(candidates)
        for helper in candidates:
            if all(self.calendar.is_free(helper, v.start, v.end) for v in d.visits):
                for v in d.visits:
                    self.calendar.reserve(helper, v.start, v.end)
                    v.helpers.append(helper)
                return

    # -- work orders: what they say -------------------------------------------------------

    def required_skills(self, d: _Draft) -> list[dict[str, Any]]:
        """Skills the unit needs, at levels the planned lead (if any) actually holds."""
        assert d.site is not None
        lead = d.visits[0].tech if d.visits else None
        if lead is not None:
            ceilings = lead.levels
        else:  # nobody planned yet: anything someone in the territory could do
            ceilings = {}
            for tech in self.techs:
                if d.site.territory in tech.territories:
                    for code, level in tech.levels.items():
                        ceilings[code] = max(level, ceilings.get(code, 0))
        if d.unit is None:
            return [{"skill": "electrical", "min_level": 1}] if ceilings.get("electrical") else []
        primary, secondary = CATEGORY_SKILLS[d.unit.category]
        top = max(1, min(3, ceilings.get(primary, 0)))
        result = [{"skill": primary, "min_level": self.rng.randint(1, top)}]
        for code in secondary:
            held = ceilings.get(code, 0)
            if held >= 1 and self.rng.random() < 0.3:
                result.append({"skill": code, "min_level": self.rng.randint(1, min(2, held))})
        return result

    def describe(self, d: _Draft) -> None:
        """Create the WorkOrder row with title, priority, skills and custom fields."""
        r = self.rng
        assert d.site is not None
        category = d.unit.category if d.unit else "site"
        titles = TITLES.get((category, d.order_type)) or TITLES[(category, "inspection")]
        cn, en = r.choice(titles)
        title = f"{cn} {en}" + (f" – {d.unit.short}" if d.unit else "")
        if d.order_type == "repair":
            priority = r.choices(("low", "normal", "high", "urgent"), weights=(15, 45, 28, 12))[0]
            if "困人" in cn:
                priority = "urgent"
            elif d.site.customer.tier == "vip" and priority in ("low", "normal"):
                priority = "high"
            channel = r.choices(
                ("phone", "email", "web", "qr", "api", "mobile"), weights=(35, 10, 15, 20, 10, 10)
            )[0]
        elif d.order_type == "installation":
            priority = r.choices(("normal", "high"), weights=(80, 20))[0]
            channel = r.choices(("email", "web", "phone"), weights=(60, 20, 20))[0]
        else:
            priority = r.choices(("low", "normal", "high"), weights=(30, 60, 10))[0]
            channel = r.choices(("preventive", "email", "phone"), weights=(75, 15, 10))[0]
        tier = r.choices(("L1", "L2", "L3"), weights=(25, 55, 20))[0]
        if "故障码" in cn or "压缩机" in cn:
            tier = "L3"
        if channel in ("phone", "email"):
            d.creator = self.office("agent")
        elif channel == "preventive":
            d.creator = self.office("dispatcher")
        elif channel == "mobile":  # raised from the field, usually by whoever then goes
            d.creator = d.visits[0].tech.user if d.visits else r.choice(self.techs).user
        custom: dict[str, Any] = {}
        if self.p.custom_fields:
            if d.unit is not None and r.random() < 0.5:
                custom["building_floor"] = {
                    "chiller": r.randint(-3, -1),
                    "escalator": r.randint(1, 5),
                }.get(d.unit.category, r.randint(1, 40))
            if r.random() < 0.35:
                custom["access_card_required"] = r.random() < 0.6
            if d.order_type in ("maintenance", "inspection") and r.random() < 0.7:
                custom["contract_ref"] = d.site.contract_ref
        reporter = d.site.customer.contacts[0]
        description = f"{d.site.row.name}：{cn}。{en}."
        if channel in ("phone", "qr", "web"):
            description += f" 报修人 Reported by {reporter['name']}, {reporter['phone']}."
        d.order = WorkOrder(
            id=self.ids("work_order"),
            tenant_id=self.tenant.id,
            number="",
            title=title,
            description=description,
            order_type=d.order_type,
            priority=priority,
            category=ORDER_CATEGORY.get(category, "general"),
            support_tier=tier,
            status=Status.NEW.value,
            channel=channel,
            required_skills=self.required_skills(d),
            estimated_duration_minutes=d.minutes,
            customer_id=d.site.customer.id,
            site_id=d.site.row.id,
            equipment_id=d.unit.row.id if d.unit else None,
            lead_technician_id=None,
            location=d.site.row.location,
            custom_fields=custom,
            created_by_id=d.creator.id if d.creator else None,
            version=1,
        )

    def lead_time(self, d: _Draft) -> dt.timedelta:
        """How long before the first visit the request came in."""
        assert d.order is not None
        low, high = {
            "urgent": (90, 240),
            "high": (180, 2160),
            "normal": (480, 5760),
            "low": (1440, 10080),
        }[d.order.priority]
        if d.order_type == "maintenance":
            low, high = 7200, 28800
        elif d.order_type == "inspection":
            low, high = 4320, 21600
        elif d.order_type == "installation":
            low, high = 10080, 36000
        return dt.timedelta(minutes=self.rng.randint(low, high))

    def created_before(self, d: _Draft, visit: _Visit) -> None:
        """Creation time before the first visit, never in the future or before onboarding."""
        created = visit.start - self.lead_time(d)
        if created > NOW - dt.timedelta(minutes=20):
            created = NOW - dt.timedelta(minutes=self.rng.randint(20, 4 * 24 * 60))
        d.created = max(created, ONBOARDED + dt.timedelta(days=1)).replace(microsecond=0)

    def created_ago(self, d: _Draft, low_minutes: int, high_minutes: int) -> None:
        """Creation time some minutes before now."""
        d.created = NOW - dt.timedelta(minutes=self.rng.randint(low_minutes, high_minutes))

    # -- work orders: history steps -------------------------------------------------------

    def triage(self, d: _Draft, chance: float = 1.0) -> None:
        """The service desk reviews the request."""
        if self.rng.random() < chance:
            d.steps.append(_Step(Status.TRIAGED, self.office("agent"), gap=(5, 90)))

    def schedule(self, d: _Draft, visit: _Visit) -> None:
        """A dispatcher books the visit (and then assigns helpers, if any)."""
        dispatcher = self.office("dispatcher")
        d.steps.append(_Step(Status.SCHEDULED, dispatcher, gap=(15, 360), visit=visit))
        if visit.helpers and visit is d.visits[0]:
            d.steps.append(_Step(None, dispatcher, gap=(1, 10), visit=visit))

    def dispatch(self, d: _Draft, visit: _Visit) -> None:
        """The dispatcher releases the job to the phone, usually the evening before."""
        want = visit.start - dt.timedelta(minutes=self.rng.randint(60, 1200))
        d.steps.append(_Step(Status.DISPATCHED, self.office("dispatcher"), want=want))

    def field(
        self, d: _Draft, visit: _Visit, to: Status, at: dt.datetime | None, where: Point
    ) -> _Step:
        """A status change tapped on the lead technician's phone, with a GPS fix."""
        step = _Step(
            to,
            visit.tech.user,
            at=at.replace(microsecond=0) if at else None,
            gap=(5, 60),
            where=self.near(where, 40),
            accuracy_m=round(self.rng.uniform(4, 30), 1),
        )
        d.steps.append(step)
        return step

    def trip(
        self,
        d: _Draft,
        visit: _Visit,
        *,
        until: Status,
        arrive: dt.datetime | None = None,
        en_route_at: dt.datetime | None = None,
        hold: bool = False,
    ) -> None:
        """Dispatch, accept, drive, arrive, then finish or put on hold (up to ``until``)."""
        assert d.site is not None
        r = self.rng
        self.dispatch(d, visit)
        if until is Status.DISPATCHED:
            return
        self.field(d, visit, Status.ACCEPTED, None, visit.tech.home)
        if until is Status.ACCEPTED:
            return
        if arrive is None:
            arrive = visit.start + dt.timedelta(minutes=r.randint(-10, 20))
        if until is Status.EN_ROUTE:
            self.field(d, visit, Status.EN_ROUTE, en_route_at, visit.tech.home)
            return
        if r.random() < 0.8:  # some technicians forget the "en route" tap
            travel = dt.timedelta(minutes=r.randint(15, 45))
            self.field(d, visit, Status.EN_ROUTE, arrive - travel, visit.tech.home)
        self.field(d, visit, Status.ON_SITE, arrive, d.site.point)
        if hold:
            step = self.field(
                d,
                visit,
                Status.ON_HOLD,
                arrive + dt.timedelta(minutes=r.randint(20, 90)),
                d.site.point,
            )
            step.payload = {"hold_reason": "parts", "note": HOLD_NOTES["parts"]}
            return
        if until is Status.ON_SITE:
            return
        worked = max(20, int(d.minutes * r.uniform(0.6, 1.4)))
        step = self.field(
            d, visit, Status.COMPLETED, arrive + dt.timedelta(minutes=worked), d.site.point
        )
        step.payload = {"resolution_summary": self.resolution(d)}

    def resolution(self, d: _Draft) -> str:
        """What the technician wrote when finishing."""
        return self.rng.choice(RESOLUTIONS[d.unit.category if d.unit else "site"])

    def office_hold(self, d: _Draft, reasons: Sequence[str]) -> None:
        """The office parks the order (customer, access or other reasons)."""
        reason = self.rng.choice(reasons)
        actor = self.office(self.rng.choice(("agent", "dispatcher")))
        step = _Step(Status.ON_HOLD, actor, gap=(30, 2880))
        step.payload = {"hold_reason": reason, "note": HOLD_NOTES[reason]}
        d.steps.append(step)

    def close(self, d: _Draft) -> None:
        """The service desk closes a completed order after the customer signs off."""
        done = d.steps[-1].at
        assert done is not None
        latest = NOW - _MIN_GAP * 10
        at = min(done + dt.timedelta(minutes=self.rng.randint(120, 4320)), latest)
        at = self.office_hours(at, done + _MIN_GAP * 30, latest)
        d.steps.append(_Step(Status.CLOSED, self.office("agent"), at=at.replace(microsecond=0)))

    def cancel(self, d: _Draft) -> None:
        """The office cancels with a reason."""
        actor = self.office(self.rng.choice(("agent", "dispatcher")))
        step = _Step(Status.CANCELLED, actor, gap=(30, 2880))
        step.payload = {"reason": self.rng.choice(CANCEL_REASONS)}
        d.steps.append(step)

    def reopen(self, d: _Draft) -> None:
        """The customer complains after completion; the service desk reopens."""
        step = _Step(Status.REOPENED, self.office("agent"), gap=(360, 4320))
        step.payload = {"reason": self.rng.choice(REOPEN_REASONS)}
        d.steps.append(step)

    # -- work orders: one story per status ------------------------------------------------

    def story(self, status: Status) -> _Draft:
        """Generate one order that ends in ``status`` with a legal history."""
        r = self.rng
        order_type = r.choices(
            ("repair", "installation", "maintenance", "inspection"), weights=(50, 8, 30, 12)
        )[0]
        minutes = {
            "repair": r.choice((45, 60, 90, 120, 180)),
            "installation": r.choice((240, 300, 360, 480)),
            "maintenance": r.choice((60, 90, 120, 180, 240)),
            "inspection": r.choice((45, 60, 90, 120)),
        }[order_type]
        d = _Draft(status, order_type, minutes)
        S = Status
        today, tomorrow = self.today, self.today + dt.timedelta(days=1)
        if status in (S.NEW, S.TRIAGED):
            self.target_anywhere(d)
            self.describe(d)
            if status is S.NEW:
                self.created_ago(d, 10, 36 * 60)
            else:
                self.created_ago(d, 120, 5 * 24 * 60)
                self.triage(d)
        elif status in (S.SCHEDULED, S.DISPATCHED, S.ACCEPTED):
            if status is S.SCHEDULED:
                v = self.must_book(d, self.days(1, 12))
            else:
                day_after = self.today + dt.timedelta(days=2)
                later = [today, tomorrow] if status is S.ACCEPTED else [today, tomorrow, day_after]
                v = self.must_book(d, later, earliest=NOW + dt.timedelta(hours=1))
            self.add_helpers(d)
            self.describe(d)
            self.created_before(d, v)
            self.triage(d, 0.75)
            self.schedule(d, v)
            if status is not S.SCHEDULED:
                self.trip(d, v, until=status)
        elif status is S.EN_ROUTE:
            v = self.must_book(
                d,
                [today],
                earliest=NOW + dt.timedelta(minutes=5),
                latest_start=NOW + dt.timedelta(minutes=45),
            )
            self.describe(d)
            self.created_before(d, v)
            self.triage(d, 0.75)
            self.schedule(d, v)
            en_route_at = NOW - dt.timedelta(minutes=r.randint(3, 25))
            self.trip(d, v, until=status, en_route_at=en_route_at)
        elif status is S.ON_SITE:
            # The visit started before now and is planned to end after it.
            slack = r.randint(0, max(0, minutes - 60))
            earliest = NOW - dt.timedelta(minutes=minutes - 15 - slack)
            v = self.must_book(
                d, [today], earliest=earliest, latest_start=NOW - dt.timedelta(minutes=20)
            )
            self.add_helpers(d)
            self.describe(d)
            self.created_before(d, v)
            self.triage(d, 0.75)
            self.schedule(d, v)
            arrive = min(
                v.start + dt.timedelta(minutes=r.randint(-5, 10)), NOW - dt.timedelta(minutes=5)
            )
            self.trip(d, v, until=status, arrive=arrive)
        elif status in (S.COMPLETED, S.CLOSED, S.REOPENED):
            self.finished(d)
        elif status is S.ON_HOLD:
            self.held(d)
        elif status is S.CANCELLED:
            self.cancelled(d)
        return d

    def finished(self, d: _Draft) -> None:
        """Completed, closed and reopened orders: one visit, or two around a parts hold."""
        r = self.rng
        S = Status
        last_offset, first_offset = {
            S.COMPLETED: (-1, -7),
            S.REOPENED: (-3, -20),
            S.CLOSED: (-10, -180),
        }[d.status]
        if d.status is S.CLOSED and r.random() < 0.06:
            last_offset, first_offset = -300, -400  # last year's orders, for WO-2025-*
        revisit = r.random() < (0.2 if d.status is S.COMPLETED else 0.12)
        v1 = self.must_book(d, self.days(first_offset - (6 if revisit else 0), last_offset))
        v2 = None
        if revisit:
            first_day = v1.start.astimezone(self.tz).date()
            offsets = [
                o
                for o in range(2, 7)
                if (first_day + dt.timedelta(days=o) - self.today).days <= last_offset
            ]
            r.shuffle(offsets)
            v2 = self.book(d, [first_day + dt.timedelta(days=o) for o in offsets], tech=v1.tech)
        self.add_helpers(d)
        self.describe(d)
        self.created_before(d, v1)
        self.triage(d, 0.75)
        self.schedule(d, v1)
        if v2 is not None:
            self.trip(d, v1, until=S.ON_HOLD, hold=True)
            self.schedule(d, v2)
            self.trip(d, v2, until=S.COMPLETED)
        else:
            self.trip(d, v1, until=S.COMPLETED)
        if d.status is S.CLOSED or (d.status is S.REOPENED and r.random() < 0.5):
            self.close(d)
        if d.status is S.REOPENED:
            self.reopen(d)

    def held(self, d: _Draft) -> None:
        """On hold: waiting for the customer/access, or for a part after a first visit."""
        r = self.rng
        S = Status
        variant = r.choices(("office", "planned", "parts"), weights=(40, 25, 35))[0]
        if variant == "office":
            self.target_anywhere(d)
            self.describe(d)
            self.created_ago(d, 24 * 60, 20 * 24 * 60)
            self.triage(d)
            self.office_hold(d, ("customer", "access", "other"))
            return
        if variant == "planned":
            # Planned, then parked before the visit; the slot stays on the order but
            # is not blocked in the calendar.
            v = self.must_book(d, self.days(1, 10), reserve=False)
            self.describe(d)
            self.created_before(d, v)
            self.triage(d, 0.75)
            self.schedule(d, v)
            self.office_hold(d, ("customer", "access"))
            return
        v = self.must_book(d, self.days(-10, -1))
        self.describe(d)
        self.created_before(d, v)
        self.triage(d, 0.75)
        self.schedule(d, v)
        self.trip(d, v, until=S.ON_HOLD, hold=True)

    def cancelled(self, d: _Draft) -> None:
        """Cancelled straight away, after triage, or after planning (slot released)."""
        r = self.rng
        S = Status
        variant = r.choices(
            ("new", "triaged", "scheduled", "dispatched"), weights=(25, 30, 30, 15)
        )[0]
        if variant in ("new", "triaged"):
            self.target_anywhere(d)
            self.describe(d)
            self.created_ago(d, 24 * 60, 60 * 24 * 60)
            if variant == "triaged":
                self.triage(d)
            self.cancel(d)
            return
        v = self.must_book(d, self.days(-50, 5), reserve=False)
        self.describe(d)
        self.created_before(d, v)
        self.triage(d, 0.75)
        self.schedule(d, v)
        if variant == "dispatched":
            self.trip(d, v, until=S.DISPATCHED)
        self.cancel(d)

    # -- work orders: timing, validation, numbering, events -------------------------------

    def time_steps(self, d: _Draft) -> None:
        """Give every unfixed step a time between its neighbours (strictly increasing)."""
        previous = d.created
        for i, step in enumerate(d.steps):
            if step.at is None:
                later = [(j, s.at) for j, s in enumerate(d.steps[i + 1 :]) if s.at is not None]
                bound, free = (later[0][1], later[0][0]) if later else (NOW, len(d.steps) - i - 1)
                assert bound is not None
                low = previous + _MIN_GAP
                high = bound - _MIN_GAP * (free + 1)
                want = step.want or previous + dt.timedelta(
                    minutes=self.rng.randint(*step.gap), seconds=self.rng.randint(0, 59)
                )
                if high < low:
                    raise RuntimeError(f"demo seed: no room for {step.to} on a {d.status} order")
                at = min(max(want, low), high).replace(microsecond=0)
                if step.actor.role != "technician":
                    at = self.office_hours(at, low, high)
                step.at = at
            elif step.at <= previous:
                raise RuntimeError(f"demo seed: {step.to} at {step.at} is not after {previous}")
            previous = step.at

    def office_hours(self, at: dt.datetime, low: dt.datetime, high: dt.datetime) -> dt.datetime:
        """Move an office action out of the night (08:00-20:00 local) when its bounds allow."""
        local = at.astimezone(self.tz)
        if 8 <= local.hour < 20:
            return at
        day = local.date() + dt.timedelta(days=1 if local.hour >= 20 else 0)
        morning = dt.datetime.combine(day, dt.time(8, 0), tzinfo=self.tz)
        morning += dt.timedelta(minutes=self.rng.randint(0, 90))
        if morning <= high:
            return max(morning, low)
        evening = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(19, 0), tzinfo=self.tz)
        evening -= dt.timedelta(minutes=self.rng.randint(0, 120))
        if evening >= low:
            return min(evening, high)
        return at

    def apply(self, d: _Draft) -> None:
        """Walk the steps through the lifecycle table, stamping the order like the API would."""
        o = d.order
        assert o is not None
        state = Status.NEW
        lead: _Tech | None = None
        helpers: list[_Tech] = []
        for step in d.steps:
            step.source = state
            if step.to is None:
                assert step.visit is not None
                helpers = list(step.visit.helpers)
                step.payload = {
                    "changes": {
                        "helper_ids": {"from": [], "to": sorted(str(h.row.id) for h in helpers)}
                    }
                }
                continue
            if step.to is Status.SCHEDULED and step.visit is not None:
                v = step.visit
                changes: dict[str, Any] = {}
                if lead is not v.tech:
                    previous_lead = str(lead.row.id) if lead else None
                    changes["lead_technician_id"] = {
                        "from": previous_lead,
                        "to": str(v.tech.row.id),
                    }
                for key, value in (("scheduled_start", v.start), ("scheduled_end", v.end)):
                    old = getattr(o, key)
                    changes[key] = {"from": _utc_iso(old) if old else None, "to": _utc_iso(value)}
                step.payload = {"changes": changes}
                lead = v.tech
                o.lead_technician_id = v.tech.row.id
                o.scheduled_start, o.scheduled_end = v.start, v.end
            assignees = {t.user.id for t in ([lead] if lead else []) + helpers}
            assert step.at is not None
            decision = decide(
                state,
                step.to,
                TransitionContext(
                    role=Role(step.actor.role),
                    has_lead_technician=o.lead_technician_id is not None,
                    has_schedule=o.scheduled_start is not None and o.scheduled_end is not None,
                    actor_is_assignee=step.actor.id in assignees,
                    resolution_summary=step.payload.get("resolution_summary"),
                    hold_reason=step.payload.get("hold_reason"),
                    reason=step.payload.get("reason"),
                ),
            )
            if not decision.allowed:
                raise RuntimeError(f"demo seed: {state} -> {step.to} refused ({decision.code})")
            # The same effects the transition service applies.
            if Effect.SET_ACTUAL_START in decision.effects and o.actual_start is None:
                o.actual_start = step.at
            if Effect.SET_ACTUAL_END in decision.effects:
                o.actual_end = step.at
            if Effect.CLEAR_HOLD in decision.effects:
                o.hold_reason = None
            if step.to is Status.COMPLETED:
                o.resolution_summary = step.payload["resolution_summary"]
            elif step.to is Status.ON_HOLD:
                o.hold_reason = step.payload["hold_reason"]
            elif step.to is Status.CANCELLED:
                o.cancel_reason = step.payload["reason"]
            state = step.to
        if state is not d.status:
            raise RuntimeError(f"demo seed: path ends in {state}, wanted {d.status}")
        o.status = state.value
        o.helpers = [
            WorkOrderHelper(tenant_id=self.tenant.id, work_order_id=o.id, technician_id=h.row.id)
            for h in helpers
        ]
        o.created_at = d.created
        last_step = d.steps[-1].at if d.steps else None
        o.updated_at = last_step or d.created
        self.requested_window(d)

    def requested_window(self, d: _Draft) -> None:
        """The customer's window: an SLA-like deadline for repairs, a week for planned work."""
        o = d.order
        assert o is not None
        r = self.rng
        if r.random() < 0.1:
            return  # "any time": no window given
        if d.order_type == "repair":
            hours = {"urgent": 4, "high": 24, "normal": 72, "low": 168}[o.priority]
            o.requested_start = d.created
            o.requested_end = d.created + dt.timedelta(hours=hours)
            return
        anchor = d.visits[0].start if d.visits else d.created + dt.timedelta(days=10)
        first = anchor.astimezone(self.tz).date() - dt.timedelta(days=r.randint(0, 3))
        start = dt.datetime.combine(first, dt.time(0, 0), tzinfo=self.tz)
        o.requested_start = max(start, d.created)
        o.requested_end = start + dt.timedelta(days=7)

    def build_orders(self) -> None:
        """All work orders, then numbers in creation order, then the histories."""
        for status, count in self.p.statuses:
            for _ in range(count):
                d = self.story(status)
                self.time_steps(d)
                self.apply(d)
                self.drafts.append(d)
        self.drafts.sort(key=lambda d: (d.created, str(d.order.id if d.order else "")))
        last: dict[int, int] = {}
        for d in self.drafts:
            assert d.order is not None
            year = d.created.astimezone(self.tz).year
            last[year] = last.get(year, 0) + 1
            d.order.number = f"{self.p.order_prefix}-{year}-{last[year]:06d}"
            self.write_events(d)
        self.counters = [
            WorkOrderCounter(tenant_id=self.tenant.id, year=year, last_value=value)
            for year, value in sorted(last.items())
        ]
        for d in self.drafts:
            o = d.order
            assert o is not None
            still_open = o.status not in ("completed", "closed", "cancelled")
            if d.unit and o.priority == "urgent" and o.order_type == "repair" and still_open:
                d.unit.row.status = "out_of_service"

    def write_events(self, d: _Draft) -> None:
        """The "created" event and one event per step."""
        o = d.order
        assert o is not None
        self.events.append(
            WorkOrderEvent(
                id=self.ids("event"),
                tenant_id=self.tenant.id,
                work_order_id=o.id,
                event_type="created",
                from_status=None,
                to_status=Status.NEW.value,
                actor_user_id=d.creator.id if d.creator else None,
                actor_role=d.creator.role if d.creator else None,
                occurred_at=d.created,
                recorded_at=d.created,
                payload={"channel": o.channel, "number": o.number},
            )
        )
        for step in d.steps:
            assert step.at is not None and step.source is not None
            recorded = step.at
            if step.where is not None:  # phones sync a little after the tap
                recorded = min(step.at + dt.timedelta(seconds=self.rng.randint(2, 180)), NOW)
            self.events.append(
                WorkOrderEvent(
                    id=self.ids("event"),
                    tenant_id=self.tenant.id,
                    work_order_id=o.id,
                    event_type="status_changed" if step.to else "assigned",
                    from_status=step.source.value if step.to else None,
                    to_status=step.to.value if step.to else None,
                    actor_user_id=step.actor.id,
                    actor_role=step.actor.role,
                    occurred_at=step.at,
                    recorded_at=max(recorded, step.at),
                    payload=step.payload,
                    location=point_element(step.where) if step.where else None,
                    location_accuracy_m=step.accuracy_m,
                )
            )

    # -- after the orders: spares used and configuration history --------------------------

    def build_usages(self) -> None:
        """Parts consumed on some finished orders, from the unit's compatible spares."""
        r = self.rng
        for d in self.drafts:
            o = d.order
            assert o is not None
            if d.unit is None or o.actual_end is None or o.actual_start is None:
                continue
            if r.random() > 0.2:
                continue
            model = d.unit.row.model
            fitting = [p for p in self.parts if model in p.compatible_models]
            if not fitting:
                continue
            lead = d.visits[-1].tech
            for part in r.sample(fitting, min(len(fitting), r.randint(1, 2))):
                serials: list[str] = []
                if part.serialized:
                    quantity = Decimal("1")
                    serials = [f"{part.sku}-{r.randint(100_000, 999_999)}"]
                elif part.unit == "kg":
                    quantity = Decimal(str(r.choice((0.5, 1.0, 1.5, 2.0, 3.0, 4.5))))
                elif part.unit == "m":
                    quantity = Decimal(r.randint(2, 25))
                elif part.unit == "L":
                    quantity = Decimal(r.choice((1, 2, 4)))
                else:
                    quantity = Decimal(r.randint(1, 4))
                used = o.actual_end - dt.timedelta(minutes=r.randint(5, 15))
                recorded = min(o.actual_end + dt.timedelta(minutes=r.randint(1, 30)), NOW)
                self.usages.append(
                    PartUsage(
                        id=self.ids("part_usage"),
                        tenant_id=self.tenant.id,
                        work_order_id=o.id,
                        part_id=part.id,
                        equipment_id=d.unit.row.id,
                        technician_id=lead.row.id,
                        quantity=quantity,
                        serial_numbers=serials,
                        used_at=used,
                        recorded_at=recorded,
                    )
                )

    def tweak(self, unit: Equipment, category: str) -> tuple[dict[str, Any], str]:
        """A later configuration change and its reason."""
        config = dict(unit.configuration)
        if "controller_fw" in config and category in ("elevator", "escalator", "split_ac"):
            major, minor, _ = config["controller_fw"][1:].split(".")
            config["controller_fw"] = f"v{major}.{int(minor) + 1}.0"
            return config, "控制器固件升级 Controller firmware upgrade"
        if category == "chiller":
            config["chw_setpoint_c"] = 6.5
            return config, "夏季工况调低出水温度 Lower chilled-water setpoint for summer"
        if category == "ahu":
            config["supply_setpoint_c"] = config["supply_setpoint_c"] + 1.0
            return config, "按客户要求调整送风温度 Supply setpoint changed at customer request"
        config["notes"] = "updated"
        return config, "配置更新 Configuration update"

    def build_revisions(self) -> None:
        """Revision 1 for every unit; revision 2 for about 10 %, often tied to an order."""
        every = [u.row for u in self.units] + self.components
        for row in every:
            assert row.install_date is not None
            self.revisions.append(
                EquipmentConfigRevision(
                    id=self.ids("config_revision"),
                    tenant_id=self.tenant.id,
                    equipment_id=row.id,
                    revision=1,
                    configuration=dict(row.configuration),
                    changed_by_id=None,
                    changed_at=dt.datetime.combine(
                        row.install_date, dt.time(10, 0), tzinfo=self.tz
                    ),
                    reason="调试交付时的初始配置 Initial configuration at commissioning",
                    work_order_id=None,
                )
            )
        wanted = max(1, len(every) // 10)
        chosen: dict[uuid.UUID, tuple[_Unit, _Draft | None]] = {}
        finished = [d for d in self.drafts if d.unit and d.order and d.order.actual_end]
        self.rng.shuffle(finished)
        for d in finished[: wanted * 2 // 3]:
            assert d.unit is not None
            chosen.setdefault(d.unit.row.id, (d.unit, d))
        spare = [u for u in self.units if u.row.id not in chosen]
        for unit in self.rng.sample(spare, min(len(spare), wanted - len(chosen))):
            chosen[unit.row.id] = (unit, None)
        admin = self.staff["admin"][0]
        for unit, source in chosen.values():
            config, reason = self.tweak(unit.row, unit.category)
            if source is not None:
                assert source.order is not None and source.order.actual_end is not None
                who: User = source.visits[-1].tech.user
                when = source.order.actual_end - dt.timedelta(minutes=5)
                order_id: uuid.UUID | None = source.order.id
            else:
                who = admin
                when = NOW - dt.timedelta(days=self.rng.randint(5, 300))
                order_id = None
            unit.row.configuration = config
            unit.row.config_revision = 2
            self.revisions.append(
                EquipmentConfigRevision(
                    id=self.ids("config_revision"),
                    tenant_id=self.tenant.id,
                    equipment_id=unit.row.id,
                    revision=2,
                    configuration=dict(config),
                    changed_by_id=who.id,
                    changed_at=when,
                    reason=reason,
                    work_order_id=order_id,
                )
            )

    # -- checklists and knowledge base (fixed content, so the random stream is untouched) --

    def build_knowledge(self) -> None:
        """The checklist templates and articles that fit this company's equipment and skills."""
        categories = set(self.p.categories)
        for index, spec in enumerate(CHECKLISTS):
            if spec.categories and not categories & set(spec.categories):
                continue
            created = ONBOARDED + dt.timedelta(days=index)
            row = ChecklistTemplate(
                id=self.ids("checklist_template"),
                tenant_id=self.tenant.id,
                name=spec.name,
                description=spec.description,
                order_types=list(spec.order_types),
                equipment_categories=list(spec.categories),
                items=[_checklist_item(item) for item in spec.items],
                version=spec.version,
                active=spec.active,
                created_at=created,
                updated_at=created if spec.active else created + dt.timedelta(days=60),
            )
            self.checklists.append(row)
            self._checklist_specs[row.id] = spec
        for index, article in enumerate(ARTICLES):
            if not set(article.skills) <= set(self.p.skills):
                continue
            if article.categories and not categories & set(article.categories):
                continue
            created = ONBOARDED + dt.timedelta(days=14 + 3 * index)
            self.articles.append(
                KbArticle(
                    id=self.ids("kb_article"),
                    tenant_id=self.tenant.id,
                    title=article.title,
                    body=article.body,
                    skill_codes=list(article.skills),
                    equipment_models=[
                        model
                        for category in article.categories
                        if category in categories
                        for _, model, _ in MODELS[category]
                    ],
                    tags=list(article.tags),
                    published=article.published,
                    created_at=created,
                    updated_at=created,
                )
            )

    def link_checklists(self) -> None:
        """Each order gets the template the API would pick; finished ones carry answers."""
        active = [t for t in self.checklists if t.active]
        for d in self.drafts:
            o = d.order
            assert o is not None
            template = pick_template(
                active,
                order_type=o.order_type,
                equipment_category=d.unit.category if d.unit else None,
            )
            if template is None:
                continue
            o.checklist_template_id = template.id
            spec = self._checklist_specs[template.id]
            answers = {item[0]: item[5] for item in spec.items if item[5] is not None}
            if o.actual_end is not None:
                o.checklist_answers = answers
            elif o.status == Status.ON_SITE.value:
                # "Now" froze halfway through the list.
                o.checklist_answers = dict(list(answers.items())[: len(answers) // 2])

    # -- everything -----------------------------------------------------------------------

    def build(self) -> None:
        """Generate the whole company, in dependency order."""
        self.build_staff()
        self.build_reference()
        self.build_knowledge()
        self.build_technicians()
        self.build_customers()
        self.build_orders()
        self.link_checklists()
        self.build_usages()
        self.build_revisions()

    def batches(self) -> list[list[Any]]:
        """Rows grouped so each group only references rows of earlier groups."""
        orders = [d.order for d in self.drafts if d.order is not None]
        return [
            [self.tenant],
            list(self.users),
            [*self.skills.values(), *(t for t, _ in self.territories.values())]
            + self.fields
            + self.parts
            + self.checklists
            + self.articles,
            [t.row for t in self.techs],
            list(self.customers),
            [s.row for s in self.sites],
            [u.row for u in self.units],
            list(self.components),
            orders,
            self.events + self.revisions + self.usages + self.counters,
        ]

    def counts(self) -> dict[str, int]:
        """Rows per entity, for the summary."""
        orders = [d.order for d in self.drafts if d.order is not None]
        return {
            "tenants": 1,
            "users": len(self.users),
            "skills": len(self.skills),
            "territories": len(self.territories),
            "custom field definitions": len(self.fields),
            "technicians": len(self.techs),
            "technician skills": sum(len(t.row.skills) for t in self.techs),
            "technician shifts": sum(len(t.row.shifts) for t in self.techs),
            "customers": len(self.customers),
            "sites": len(self.sites),
            "equipment": len(self.units) + len(self.components),
            "  of which components": len(self.components),
            "equipment config revisions": len(self.revisions),
            "parts": len(self.parts),
            "checklist templates": len(self.checklists),
            "kb articles": len(self.articles),
            "work orders": len(orders),
            "work order helpers": sum(len(o.helpers) for o in orders),
            "work order events": len(self.events),
            "part usages": len(self.usages),
            "work order counters": len(self.counters),
        }


# --- public API -------------------------------------------------------------------------


@dataclass
class DemoData:
    """Every row of the demo, grouped in insert order, with per-tenant counts."""

    batches: list[list[Any]]
    counts: dict[str, dict[str, int]]
    tenants: list[Tenant]
    work_orders: list[WorkOrder]
    events: list[WorkOrderEvent]


def generate_demo(*, password_hash: str, seed: int = DEMO_SEED) -> DemoData:
    """Build both demo companies in memory (nothing touches a session)."""
    rng = random.Random(seed)
    builders = []
    for profile in PROFILES:
        builder = _TenantBuilder(profile, rng, password_hash)
        builder.build()
        builders.append(builder)
    batches: list[list[Any]] = [[] for _ in builders[0].batches()]
    for builder in builders:
        for index, group in enumerate(builder.batches()):
            batches[index].extend(group)
    return DemoData(
        batches=batches,
        counts={b.p.slug: b.counts() for b in builders},
        tenants=[b.tenant for b in builders],
        work_orders=[d.order for b in builders for d in b.drafts if d.order is not None],
        events=[e for b in builders for e in b.events],
    )


def load_demo(session: Session, data: DemoData) -> None:
    """Add the rows, flushing group by group so foreign keys always point backwards."""
    for group in data.batches:
        session.add_all(group)
        session.flush()


def load_stock(session: Session, tenant_ids: list[uuid.UUID]) -> None:
    """Opening stock per company: a main warehouse with min/max levels, every van loaded.

    Posted through the ledger (receipts, then transfers), so balances, serial units and the
    vans' synced stock agree with the movements from the first minute. Historical parts
    usages predate the ledger and are not posted.
    """
    for tenant_id in tenant_ids:
        set_tenant(session, tenant_id)
        warehouse = StockLocation(kind="warehouse", code="WH-MAIN", name="主仓库 Main warehouse")
        session.add(warehouse)
        session.flush()
        supplier = stock.singleton(session, "supplier")
        parts = list(session.scalars(select(Part).where(Part.active.is_(True)).order_by(Part.sku)))
        for part in parts:
            serials = [f"{part.sku}-S{n:04d}" for n in range(1, 21)] if part.serialized else None
            quantity = 20 if part.serialized else 200
            stock.post(
                session,
                part=part,
                source=supplier,
                destination=warehouse,
                quantity=quantity,
                reason="receipt",
                serials=serials,
                occurred_at=ANCHOR,
            )
            if not part.serialized:
                session.add(
                    StockLevel(
                        location_id=warehouse.id,
                        part_id=part.id,
                        min_quantity=Decimal(60),
                        max_quantity=Decimal(250),
                    )
                )
        plain = [p for p in parts if not p.serialized][:6]
        for tech in session.scalars(select(Technician).order_by(Technician.name)):
            van = stock.van_for(session, tech.id)
            van.warehouse_id = warehouse.id
            for part in plain:
                stock.post(
                    session,
                    part=part,
                    source=warehouse,
                    destination=van,
                    quantity=3,
                    reason="transfer",
                    occurred_at=ANCHOR,
                )
        session.flush()
    session.info.pop(TENANT_KEY, None)
    session.info[SYSTEM_KEY] = True


# Working days of the demo companies' service desks, and China's public holidays of the
# first months after the anchor (whole days; the SLA clocks skip them).
DESK_HOURS = {
    day: [{"start": "08:30", "end": "12:00"}, {"start": "13:00", "end": "17:30"}]
    for day in ("mon", "tue", "wed", "thu", "fri")
} | {"sat": [{"start": "09:00", "end": "12:00"}]}
DESK_HOLIDAYS = [
    (dt.date(2027, 1, 1), "元旦 New Year's Day"),
    *((dt.date(2027, 2, d), "春节 Spring Festival") for d in range(6, 13)),
    (dt.date(2027, 4, 5), "清明节 Qingming"),
]
# priority -> (first response, on-site arrival, resolution) in minutes; VIP customers get
# the same targets on a 24x7 clock for high and urgent work.
SLA_TARGETS = {
    "low": (8 * 60, 5 * 24 * 60, 10 * 24 * 60),
    "normal": (4 * 60, 2 * 24 * 60, 5 * 24 * 60),
    "high": (60, 8 * 60, 2 * 24 * 60),
    "urgent": (30, 4 * 60, 24 * 60),
}


def load_service_desk(session: Session, tenant_ids: list[uuid.UUID]) -> None:
    """Per company: business-hours and 24x7 calendars, SLA policies, routing rules, and a QR
    code on every top-level unit, written through the services' own validation (no commit:
    the seed is one transaction)."""
    from server.intake.service import issue_qr_code
    from server.routing.service import create_rule
    from server.sla.service import create_calendar, create_policy

    for tenant_id in tenant_ids:
        set_tenant(session, tenant_id)
        office = create_calendar(
            db_session=session,
            data={
                "name": "服务台工作时间 Service desk hours",
                "timezone": None,  # each site's own zone
                "weekly_hours": DESK_HOURS,
                "holidays": [{"date": day, "name": name} for day, name in DESK_HOLIDAYS],
            },
            commit=False,
        )
        always = create_calendar(
            db_session=session,
            data={"name": "全天候 24x7", "timezone": None, "is_24x7": True},
            commit=False,
        )
        for priority, (response, arrival, resolution) in SLA_TARGETS.items():
            targets = {
                "first_response_minutes": response,
                "arrival_minutes": arrival,
                "resolution_minutes": resolution,
            }
            create_policy(
                db_session=session,
                data={
                    "name": f"{priority} (all customers)",
                    "priority": priority,
                    "calendar_id": office.id,
                    "breach_actions": ["notify_supervisor", "open_escalation"]
                    + (["raise_priority"] if priority in ("low", "normal") else []),
                    **targets,
                },
                commit=False,
            )
            if priority in ("high", "urgent"):
                create_policy(
                    db_session=session,
                    data={
                        "name": f"{priority} (VIP, around the clock)",
                        "priority": priority,
                        "customer_tier": "vip",
                        "calendar_id": always.id,
                        "warn_at_percent": 60,
                        "breach_actions": ["notify_supervisor", "open_escalation", "reassign"],
                        **targets,
                    },
                    commit=False,
                )
        for rule in (
            {
                "name": "退款/发票 → 财务 Refunds and invoices to finance",
                "conditions": [
                    {
                        "field": "text",
                        "op": "contains_any",
                        "value": ["退款", "refund", "发票", "invoice"],
                    }
                ],
                "actions": [
                    {"action": "route_to_queue", "value": "finance"},
                    {"action": "add_tag", "value": "billing"},
                    {"action": "set_support_tier", "value": "L1"},
                    {"action": "no_dispatch"},
                    {"action": "stop"},
                ],
            },
            {
                "name": "困人/被困 → 紧急 Trapped passengers are urgent",
                "conditions": [
                    {
                        "field": "text",
                        "op": "contains_any",
                        "value": ["困人", "被困", "trapped"],
                    }
                ],
                "actions": [
                    {"action": "set_priority", "value": "urgent"},
                    {"action": "add_tag", "value": "entrapment"},
                ],
            },
            {
                "name": "VIP 客户进入专属队列 VIP customers' queue",
                "conditions": [{"field": "customer_tier", "op": "equals", "value": "vip"}],
                "actions": [{"action": "route_to_queue", "value": "vip-desk"}],
            },
        ):
            create_rule(db_session=session, data=rule, commit=False)
        units = session.scalars(
            select(Equipment.id).where(Equipment.parent_id.is_(None)).order_by(Equipment.id)
        )
        for unit_id in list(units):
            issue_qr_code(db_session=session, equipment_id=unit_id, commit=False)
        session.flush()
    session.info.pop(TENANT_KEY, None)
    session.info[SYSTEM_KEY] = True


def demo_logins() -> str:
    """The demo accounts, one line per role and tenant, with the shared password."""
    lines = [f'Demo logins (every account uses the password "{DEMO_PASSWORD}"):']
    for profile in PROFILES:
        roles = [*profile.staff, ("technician", sum(n for _, n in profile.specialties))]
        for role, count in roles:
            if role == "technician":
                first, more = "tech01", f"tech01 .. tech{count:02d}"
            else:
                first = "admin" if role == "admin" and count == 1 else f"{role}1"
                more = f"{role}1 .. {role}{count}" if count > 1 else ""
            label = f"{role} ({profile.slug})"
            email = f"{first}@{profile.slug}.example"
            lines.append(f"  {label:<24} {email:<30} {more}".rstrip())
    return "\n".join(lines)


def _table(counts: dict[str, dict[str, int]]) -> str:
    """Counts per entity (rows) and tenant (columns)."""
    slugs = list(counts)
    header = f"  {'':<28}" + "".join(f"{slug:>10}" for slug in slugs)
    lines = [header]
    for label in counts[slugs[0]]:
        lines.append(f"  {label:<28}" + "".join(f"{counts[s][label]:>10}" for s in slugs))
    return "\n".join(lines)


def seed_demo(*, if_empty: bool = False) -> str:
    """Load demo tenants; returns a printable summary with the demo logins."""
    session = db.session()
    with system_scope(session):
        if session.scalar(select(Tenant.id).limit(1)) is not None:
            if if_empty:
                return "Demo data not loaded: the database already has tenants.\n\n" + (
                    demo_logins()
                )
            raise SeedRefused(
                "The database already has tenants; refusing to seed twice. "
                "Use `flask seed --if-empty` to skip, or seed an empty database."
            )
        data = generate_demo(password_hash=hash_password(DEMO_PASSWORD))
        try:
            load_demo(session, data)
            load_stock(session, [t.id for t in data.tenants])
            load_service_desk(session, [t.id for t in data.tenants])
            session.commit()
        except BaseException:
            session.rollback()
            raise
    when = ANCHOR.strftime("%Y-%m-%d %H:%M")
    return "\n".join(
        [
            f"Demo data loaded in one transaction (seed {DEMO_SEED}, anchor {when} Asia/Shanghai).",
            "",
            _table(data.counts),
            "",
            demo_logins(),
            "",
            _demo_qr_links(session),
        ]
    )


def _demo_qr_links(session: Session) -> str:
    """One public repair page per company, to try the customer's side (tokens are random)."""
    from server.intake.models import EquipmentQrCode

    lines = ["Public repair pages (the QR code of one unit per company; any browser, no login):"]
    with system_scope(session):
        for tenant in session.scalars(select(Tenant).order_by(Tenant.slug)):
            token = session.scalar(
                select(EquipmentQrCode.token)
                .where(EquipmentQrCode.tenant_id == tenant.id)
                .order_by(EquipmentQrCode.equipment_id)
                .limit(1)
            )
            if token:
                lines.append(f"  {tenant.slug:<10} /r/{token}")
    return "\n".join(lines)
