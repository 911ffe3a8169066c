"""The glossary page: every technical term the site uses, in plain Chinese.

Pages link a term with ``{{ term("seed") }}`` (see render.py), which points at the entry's
anchor in ``glossary.html``; an unknown key is an error when the page is rendered.
"""

from __future__ import annotations

from typing import NamedTuple


class Term(NamedTuple):
    key: str  # the anchor in glossary.html
    name: str  # how pages say it
    other: str  # other names, English included, so a reader can look them up elsewhere
    text: str


TERMS = (
    Term(
        "hash",
        "哈希值",
        "SHA-256 摘要，hash",
        "把一份文件计算成一串 64 个字符的数字和字母（十六进制：0–9 和 a–f）。"
        "文件改动哪怕一个字，哈希值就完全不同；"
        "所以公布了哈希值，就等于把文件的内容固定了下来，事后无法悄悄替换。",
    ),
    Term(
        "commitment",
        "承诺值",
        "commitment",
        "在抽取之前公布的一组哈希值，固定了本轮的抽查计划、企业名录和检查人员名录。"
        "抽取之后，任何人都可以核对公布的名录与承诺值一致，证明名录没有在看到随机数以后改动。",
    ),
    Term(
        "plan-hash",
        "计划哈希",
        "plan hash",
        "抽查计划（事项、范围、各类企业的抽取比例、检查组人数等）的哈希值，是承诺值的一部分。",
    ),
    Term(
        "frame",
        "抽取名录",
        "抽取框，frame",
        "本轮所有可能被抽到的企业的完整名单，每户企业带有所在地区和风险类别。"
        "名录在抽取前固定，以承诺值和默克尔根公布。",
    ),
    Term(
        "merkle-root",
        "默克尔根",
        "Merkle 根，Merkle root",
        "把名录中每户企业的记录分别计算哈希值，再两两合并计算，直到只剩一个哈希值，就是默克尔根。"
        "它和名录的承诺值一样固定了整份名录：验证包公布后，核验程序用其中的名录文件"
        "（frame-enterprises.jsonl）重新算出默克尔根，与验证包记载的一致才打印 Merkle root ok；"
        "再把验证包记载的默克尔根与抽取前公布的对照，就能确认名录没有改动。"
        "要查某户企业是否在名录中，可在这个名录文件中查找它的信用代码。",
    ),
    Term(
        "entropy",
        "熵源",
        "随机数来源，entropy source",
        "产生随机数的来源，必须在承诺之后才产生、事先谁也无法预知，例如抽取仪式上见证人"
        "当场投掷十面骰子得到的数字，或者公共随机信标在预定时间发布的随机值。",
    ),
    Term(
        "witness",
        "见证人",
        "",
        "到场监督抽取仪式的人员，当场产生或确认随机数字，并在抽取见证记录上签字。",
    ),
    Term(
        "beacon",
        "公共随机信标",
        "drand",
        "drand 是由多家机构共同运行的公共随机数服务，按固定时间发布无法预测、带签名的随机值；"
        "任何人都可以在其网站上查到同一轮的同一数值。",
    ),
    Term(
        "seed",
        "随机种子",
        "种子，seed",
        "把计划哈希、各项承诺值和各熵源的数值合在一起计算出的哈希值。"
        "随机种子确定之后，谁被抽中就完全确定了：每户企业得到一个由种子算出的“签号”，"
        "每层按签号从小到大取足应抽户数。",
    ),
    Term(
        "stratum",
        "分层",
        "stratum",
        "按地区和风险类别把名录分成若干组（例如“福州市 · A类”），每组各自按比例抽取，"
        "保证每个地区、每类企业都有被抽到的机会。",
    ),
    Term(
        "risk-class",
        "风险类别",
        "A类–D类",
        "按企业信用风险分类管理划分：A类信用风险低，B类信用风险一般，C类信用风险较高，"
        "D类信用风险高。风险越高，抽取比例越高。",
    ),
    Term(
        "rate",
        "抽取比例",
        "",
        "每层应抽户数 = 该层符合条件的户数 × 该类企业的比例，向上取整；"
        "计划可以规定每层至少抽取的户数和全轮的上限。",
    ),
    Term(
        "targeted",
        "定向检查",
        "",
        "不经随机抽取、因特定原因必须检查的企业，例如列入经营异常名录或严重违法失信名单的企业。"
        "它们不占随机抽取的名额。",
    ),
    Term(
        "window",
        "检查时段",
        "",
        "本轮检查进行的日期范围。为使检查不事先告知，被抽中企业的名单可以在检查时段结束后公布。",
    ),
    Term(
        "bundle",
        "验证包",
        "bundle",
        "一组文件：计划、名录、熵源、抽取结果和核验程序 verify.py，以及列出每个文件哈希值的"
        "清单 MANIFEST.sha256。检查人员只以化名出现。",
    ),
    Term(
        "verify",
        "核验程序",
        "verify.py",
        "验证包中的 Python 程序，只用 Python 自带的标准库。它重新计算哈希值、默克尔根、"
        "随机种子和整个抽取，与公布的结果逐项比较，一致则输出 OK，不一致则指出第一处不符。",
    ),
    Term(
        "python",
        "Python",
        "",
        "一种免费的编程语言，可从 python.org 下载；Linux 和 macOS 一般已经自带（命令 python3）。",
    ),
    Term(
        "pseudonym",
        "化名",
        "pseudonym",
        "检查人员在公开验证包中的代号，每轮不同，外人无法据此认出某个人；化名名录也在抽取前承诺。",
    ),
    Term(
        "canonical-json",
        "规范化 JSON",
        "JSON，RFC 8785",
        "JSON 是一种常用的数据文件格式；“规范化”指按固定规则书写，同样的内容总得到同样的字节，"
        "因而得到同样的哈希值。",
    ),
    Term(
        "csv",
        "CSV",
        "",
        "逗号分隔的表格文件，可以用电子表格软件（如 WPS、Excel）打开。直接打开时，全为数字的"
        "统一社会信用代码会被当作数字（显示为科学计数法，末几位丢失）：请用“数据”→“从文本/CSV”"
        "导入，并把这一列设为“文本”。",
    ),
    Term(
        "dcat",
        "DCAT",
        "数据目录",
        "国际通用的开放数据目录格式，供其他网站和程序自动发现本站的数据文件。",
    ),
    Term(
        "javascript",
        "JavaScript",
        "",
        "网页中运行的程序。本站不需要它：关闭 JavaScript 也能浏览全部内容，"
        "只有查询页的即时查找会用到。",
    ),
    Term(
        "cookie",
        "Cookie",
        "",
        "网站存放在浏览器里的小文件，常用于识别访问者。本站不使用。",
    ),
    Term(
        "beijing-time",
        "北京时间",
        "Asia/Shanghai",
        "本站所有时间均为北京时间（UTC+8）；开放数据文件中的时间为协调世界时（UTC）。",
    ),
)

BY_KEY = {t.key: t for t in TERMS}
