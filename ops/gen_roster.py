#!/usr/bin/env python3
"""Writes a synthetic participant roster (SPEC.md columns) to stdout.

    ops/gen_roster.py -n 100000 --seed 1 --phones-out phones.txt > roster.csv

Everything is invented and deterministic for a given --seed: names from common
surnames and given names, valid Chinese mobile numbers (13x/15x/18x) in varied written
forms, townships and villages of a county, households whose members share one phone
(parents on a son's phone), paid and unpaid contributions for one year, pensioners
(no contribution, a monthly pension), mutual-aid members, balances with fen.
--phones-out writes every distinct phone once, in E.164, in order of first use (the
benchmark dials them). Standard library only.
"""
import argparse
import csv
import datetime
import random
import sys

COLUMNS = ("participant_id,phone,name,id_last4,township,village,language,"
           "contribution_year,contribution_tier_yuan,contribution_paid_yuan,"
           "contribution_due,account_balance_yuan,pension_monthly_yuan,"
           "pension_last_paid,mutual_aid_member").split(",")

# (code for ids, township name); villages are generated per township.
TOWNSHIPS = [("QS", "青山镇"), ("BS", "白水乡"), ("LH", "柳河镇"), ("SP", "石坪乡"),
             ("DQ", "东桥镇"), ("XL", "西岭乡"), ("NW", "南湾镇"), ("BT", "北塘乡"),
             ("HS", "红石镇"), ("MX", "梅溪乡"), ("YT", "杨田镇"), ("ZK", "竹坑乡"),
             ("GP", "高坪镇"), ("LK", "龙口乡"), ("TJ", "桃江镇")]
VILLAGE_FIRST = "上下东西南北前后大小新老高低中"
VILLAGE_SECOND = "岭河湾塘坪桥冲坝山岗庄湖溪沟坡"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = ["建国", "建华", "秀英", "桂英", "玉兰", "秀兰", "志强", "国华", "德明", "春梅",
         "海燕", "小红", "小明", "丽娟", "伟", "芳", "敏", "静", "强", "磊", "军", "洋",
         "勇", "艳", "杰", "娟", "涛", "明", "超", "霞", "平", "刚", "桂兰", "凤英", "文华"]
PINYIN_SURNAMES = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou"]
EN_GIVEN = ["Amy", "Tom", "Lucy", "Sam", "Jack", "Lily", "Mike", "Anna", "Ben", "Emma"]
MOBILE_PREFIXES = ["130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
                   "150", "151", "152", "153", "155", "156", "157", "158", "159",
                   "180", "181", "182", "183", "184", "185", "186", "187", "188", "189"]
TIERS = [(100, 87.0), (200, 6.0), (300, 3.0), (500, 1.3), (1000, 2.7)]  # county shares, %
# Due dates, in days from --today: ahead of it, so the unpaid are reminded and not
# past due whenever the roster is written (the benchmarks count on it).
DUE_IN_DAYS = [40, 55]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--count", type=int, default=1000, help="participants (default 1000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--households", type=float, default=0.2,
                    help="fraction of participants sharing a phone with family (default 0.2)")
    ap.add_argument("--no-phone", type=float, default=0.005,
                    help="fraction of participants without a phone (default 0.005)")
    ap.add_argument("--english", type=float, default=0.03,
                    help="fraction of English speakers (default 0.03)")
    ap.add_argument("--pensioners", type=float, default=0.3,
                    help="fraction drawing a pension (default 0.3)")
    ap.add_argument("--paid", type=float, default=0.7,
                    help="fraction of contributors who paid this year (default 0.7)")
    ap.add_argument("--year", type=int, default=None,
                    help="contribution year (default: --today's year)")
    ap.add_argument("--today", type=datetime.date.fromisoformat, default=datetime.date.today(),
                    help="the date the due dates (40 and 55 days on) count from, YYYY-MM-DD "
                         "(default today)")
    ap.add_argument("--plain-phones", action="store_true",
                    help="write every phone as 11 plain digits")
    ap.add_argument("--phones-out", metavar="FILE", help="write the distinct phones (E.164) here")
    args = ap.parse_args(argv)
    if args.count < 0:
        ap.error("--count must be >= 0")
    for name in ("households", "no_phone", "english", "pensioners", "paid"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            ap.error("--%s must be between 0 and 1" % name.replace("_", "-"))
    return args


def yuan(fen):
    """Integer fen to the roster's yuan text ("5321.47", "100")."""
    return "%d.%02d" % divmod(fen, 100) if fen % 100 else str(fen // 100)


class Generator:
    def __init__(self, args):
        self.args = args
        if args.year is None:
            args.year = args.today.year
        self.due_dates = [(args.today + datetime.timedelta(days=d)).isoformat()
                          for d in DUE_IN_DAYS]
        self.rng = random.Random(args.seed)
        self.used_phones = set()
        self.villages = {}
        for code, name in TOWNSHIPS:
            count = self.rng.randint(25, 50)
            seen = []
            while len(seen) < count:
                v = (self.rng.choice(VILLAGE_FIRST) + self.rng.choice(VILLAGE_SECOND)
                     + self.rng.choice(["村", "村", "村", "社区"]))
                if v not in seen:
                    seen.append(v)
            self.villages[code] = seen

    def new_phone(self):
        while True:
            digits = self.rng.choice(MOBILE_PREFIXES) + "%08d" % self.rng.randrange(10 ** 8)
            if digits not in self.used_phones:
                self.used_phones.add(digits)
                return digits

    def written(self, digits):
        """The same number the way a clerk might have typed it."""
        if self.args.plain_phones:
            return digits
        form = self.rng.random()
        if form < 0.6:
            return digits
        if form < 0.75:
            return "%s %s %s" % (digits[:3], digits[3:7], digits[7:])
        if form < 0.9:
            return "+86 %s-%s-%s" % (digits[:3], digits[3:7], digits[7:])
        if form < 0.95:
            return "+86" + digits
        return "0086 " + digits

    def person(self, english):
        if english:
            return "%s %s" % (self.rng.choice(EN_GIVEN), self.rng.choice(PINYIN_SURNAMES))
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    def row(self, pid, phone, place, pensioner, english):
        rng, a = self.rng, self.args
        r = dict.fromkeys(COLUMNS, "")
        r["participant_id"] = pid
        r["phone"] = phone
        r["name"] = self.person(english)
        r["id_last4"] = "%03d%s" % (rng.randrange(1000), "X" if rng.random() < 0.09
                                    else str(rng.randrange(10)))
        r["township"], r["village"] = place
        r["language"] = "en" if english else rng.choice(["zh", "zh", "zh", ""])
        if pensioner:
            r["account_balance_yuan"] = yuan(rng.randrange(50000, 2500000))
            r["pension_monthly_yuan"] = yuan(rng.randrange(14000, 32000, 5))
            r["pension_last_paid"] = "2026-11-10"
            r["mutual_aid_member"] = "no"
        else:
            tier = rng.choices([t for t, _ in TIERS], weights=[w for _, w in TIERS])[0]
            r["contribution_year"] = str(a.year)
            r["contribution_tier_yuan"] = str(tier)
            r["contribution_paid_yuan"] = (str(tier) if rng.random() < a.paid
                                           else rng.choice(["", "0"]))
            r["contribution_due"] = rng.choice(self.due_dates)
            r["account_balance_yuan"] = yuan(rng.randrange(0, 3000000))
            r["mutual_aid_member"] = "yes" if rng.random() < 0.15 else "no"
        return r

    def households(self):
        """Sizes of phone-sharing groups, in roster order, summing to --count."""
        n, rng = self.args.count, self.rng
        shared_target = round(n * self.args.households)
        groups, shared = [], 0
        while shared + 2 <= shared_target:
            size = min(rng.choice([2, 2, 3]), shared_target - shared)
            groups.append(size)
            shared += size
        groups += [1] * (n - shared)
        rng.shuffle(groups)
        return groups

    def rows(self):
        a, rng = self.args, self.rng
        seq = 0
        for size in self.households():
            code, township = rng.choice(TOWNSHIPS)
            place = (township, rng.choice(self.villages[code]))
            english = rng.random() < a.english
            digits = None if size == 1 and rng.random() < a.no_phone else self.new_phone()
            for member in range(size):
                seq += 1
                # a household: the phone's owner contributes, the parents draw pensions
                pensioner = member > 0 or rng.random() < a.pensioners
                if size > 1 and member == 0:
                    pensioner = False
                phone = self.written(digits) if digits else ""
                yield self.row("%s-%06d" % (code, seq), phone, place, pensioner, english), digits


def main(argv):
    args = parse_args(argv)
    gen = Generator(args)
    out = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
    out.writeheader()
    phones, seen = [], set()
    for row, digits in gen.rows():
        out.writerow(row)
        if digits and digits not in seen:
            seen.add(digits)
            phones.append("+86" + digits)
    if args.phones_out:
        with open(args.phones_out, "w", encoding="ascii") as f:
            f.write("".join(p + "\n" for p in phones))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        sys.exit(1)
