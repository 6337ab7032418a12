"""Helpers shared by the USSD integration tests: a roster to import, the USSD
screen-length rule of SPEC.md (182 GSM-7 septets, else 80 UCS-2 units), and
sessions in both dialects that check every screen against it."""
import uuid

HEADER = ("participant_id,phone,name,id_last4,township,village,language,contribution_year,"
          "contribution_tier_yuan,contribution_paid_yuan,contribution_due,"
          "account_balance_yuan,pension_monthly_yuan,pension_last_paid,mutual_aid_member")

GSM_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
             "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXT = "^{}\\[~]|€"


def ussd_length(text):
    """(length, limit) as the network counts one USSD screen."""
    if all(c in GSM_BASIC or c in GSM_EXT for c in text):
        return sum(2 if c in GSM_EXT else 1 for c in text), 182
    return len(text.encode("utf-16-le")) // 2, 80


def assert_fits(text):
    n, limit = ussd_length(text)
    assert n <= limit, "screen of %d > %d: %r" % (n, limit, text)


# The roster of the USSD tests: each phone's people, with amounts unique enough to
# tell whose data a screen shows.
ROWS = [
    # paid resident
    "U-PAID,13800000201,张三,2741,青山镇,上岭村,zh,2026,300,300,2026-12-31,5321.47,,,no",
    # unpaid resident with a due date
    "U-UNPAID,13800000202,李四,5318,青山镇,上岭村,zh,2026,200,,2026-12-31,1208.00,,,no",
    # pensioner, ID ending in X
    "U-PENS,13800000203,王五,690X,青山镇,下河村,zh,,,,,8650.20,186.50,2026-11-10,no",
    # household: two people on one phone, same surname
    "U-HH1,13800000204,刘丙,1111,白水乡,石桥村,zh,2026,100,100,2026-12-31,777.77,,,yes",
    "U-HH2,13800000204,刘丁,2222,白水乡,石桥村,zh,,,,,9999.99,203.40,2026-11-10,no",
    # English speaker, unpaid without a due date
    "U-EN,13800000205,Amy Zhang,4321,白水乡,白水村,en,2026,500,0,,432.10,,,no",
]
PHONE = {
    "paid": "13800000201", "unpaid": "13800000202", "pensioner": "13800000203",
    "household": "13800000204", "english": "13800000205", "unknown": "13900009999",
}


def roster_csv(extra=()):
    return "\n".join([HEADER] + ROWS + list(extra)) + "\n"


def load_roster(env, extra=()):
    status, answer = env.import_csv(roster_csv(extra))
    assert status == 200, (status, answer)
    assert answer["rejected"] == [], answer
    return answer


def sid():
    return "it-" + uuid.uuid4().hex[:16]


class AT:
    """One Africa's Talking session: each press() sends the cumulative text."""

    def __init__(self, env, phone, session=None):
        self.env, self.phone, self.session, self.inputs = env, phone, session or sid(), []

    def dial(self):
        kind, text = self.env.ussd_at(self.session, self.phone, "")
        assert_fits(text)
        return kind, text

    def press(self, key):
        self.inputs.append(key)
        kind, text = self.env.ussd_at(self.session, self.phone, "*".join(self.inputs))
        assert_fits(text)
        return kind, text


class Hubtel:
    """One Hubtel session: Initiation, then Responses with a rising Sequence."""

    def __init__(self, env, phone, session=None):
        self.env, self.phone, self.session, self.seq = env, phone, session or sid(), 1

    def dial(self):
        kind, text = self.env.ussd_hubtel(self.session, self.phone, "Initiation", "*120*12345#", 1)
        assert_fits(text)
        return kind, text

    def press(self, key):
        self.seq += 1
        kind, text = self.env.ussd_hubtel(self.session, self.phone, "Response", key, self.seq)
        assert_fits(text)
        return kind, text


def main_menu_ok(text, claim=False):
    """TEXT is the main menu; "4" (report a claim) shows for mutual-aid members only
    (CLAIM true), and no participant of ROWS but U-HH1 is one."""
    lines = text.split("\n")
    for item in ("1 ", "2 ", "3 ", "5 ", "6 "):
        assert any(l.startswith(item) for l in lines), "menu lacks %r: %r" % (item, text)
    assert any(l.startswith("4 ") for l in lines) == claim, text
