"""The inspector's findings form read as a stream, so a post with more photos than one post may
store still gives back what was typed.

The form's route is bounded by ``api.limits`` at :func:`ceiling` (a few times
``SHUANGSUI_EVIDENCE_MAX_BYTES``): past it the body is cut off, as every body is. Below it the
body is read through, and :class:`BoundedParser` keeps

* every text field (the form sends them before its files: ``assignment.html``), at most
  :data:`TEXT_MAX` bytes together, as the parser keeps each at most 1 MiB;
* each file whole while the files kept so far and it stay within the limit: the first file
  that would pass it is dropped as it comes (its bytes counted and let go, never held) and
  named in :attr:`BoundedForm.not_kept`, and a later, smaller file may still be kept.

A body cut off at the ceiling (``api.limits.BodyTooLarge``) gives its text fields read so far
and no file (:attr:`BoundedForm.cut`): what came before the cut is all there is of the post.
So does a body whose client went (a phone's line dropped) once its files had begun: the text
the form sends before them came whole, and it is kept as the draft; the answer goes to no one.
And so does a body whose file part's header passes the parser's bound on one (python-multipart:
4 KiB; a file name of thousands of characters): the parser cannot read on, so no file of the
post is kept, and the file is named by the start of its name (:attr:`BoundedForm.long_name`),
where the parser's English 400 lost the text typed. A name within that bound but past the
finding's 255 characters is refused by name as the files are stored
(``workspace.attachments.name_refused``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import (
    FormParser,
    MultiPartException,
    MultiPartParser,
    parse_options_header,
)
from starlette.requests import ClientDisconnect, Request

from api.limits import BodyTooLarge
from workspace.attachments import name_shown, size_label
from workspace.drafts import NAME_MAX

# the body's bound as a multiple of the photos' limit: a phone's few photos past the limit are
# read through (their text kept, their photos said), a body bigger than that is cut off
CEILING_TIMES = 4
# the text fields of one post together (the form's own are a few KiB at most)
TEXT_MAX = 2 * 1024 * 1024
TEXT_PAST = "Text fields exceeded"
# python-multipart's refusal of a part's header line past its bound (4 KiB and a little)
HEADER_PAST = "Maximum header size exceeded"


def ceiling(limit: int) -> int:
    """The bound ``api.limits`` puts on a post of the form whose files may store ``limit``."""
    return CEILING_TIMES * limit


@dataclass(frozen=True)
class NotKept:
    """A file of the post dropped as it came: its form field, name and size in bytes."""

    field: str
    filename: str
    size: int


@dataclass(frozen=True)
class LongName:
    """A file whose part's header passed the parser's bound: its form field and the start of
    its name, as far as the parser read it."""

    field: str
    start: str


@dataclass
class BoundedForm:
    """The form as read: its fields and kept files, the files dropped, and whether the body was
    cut off at the ceiling or stopped at a file's name past the parser's bound (then no file is
    kept and the form has only what came before)."""

    form: FormData
    limit: int
    not_kept: list[NotKept] = field(default_factory=list)
    cut: bool = False
    long_name: LongName | None = None

    @property
    def stopped(self) -> bool:
        """Whether the post was not read to its end: what came is saved, nothing submitted."""
        return self.cut or self.long_name is not None


class BoundedParser(MultiPartParser):
    """Starlette's multipart parser, storing at most ``limit`` bytes of files in one post."""

    def __init__(self, request: Request, limit: int) -> None:
        super().__init__(request.headers, self._watched(request.stream()))
        self._chunk = b""  # the chunk the parser is reading
        self.limit = limit
        self.stored = 0  # bytes of the files kept so far
        self.text = 0
        self.not_kept: list[NotKept] = []
        self._size = 0  # of the current file part
        self._dropped = False
        self.files_began = False  # the form's text, sent before its files, came whole

    async def _watched(self, stream: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
        async for chunk in stream:
            self._chunk = chunk
            yield chunk

    def long_name(self, exc: MultiPartException) -> LongName | None:
        """The file whose name stopped the parser (``exc``: a part's header past its bound),
        read from the header as far as it came; None for any other refusal, or a header not
        a file's ``Content-Disposition``."""
        cause = exc.__cause__
        if not isinstance(cause, MultipartParseError) or str(cause) != HEADER_PAST:
            return None
        if self._current_partial_header_name.lower() != b"content-disposition":
            return None
        # the value as far as it came: from earlier chunks, then this one's from where the
        # parser took it up (the error's offset) to its end or the chunk's
        start = max(0, cause.offset)
        stop = self._chunk.find(b"\r", start)
        value = self._chunk[start:] if stop == -1 else self._chunk[start:stop]
        head = self._current_partial_header_value + value
        said = head.decode("utf-8", "ignore")
        name = re.search(r'(?<![a-z])name="([^"]*)"', said)
        filename = re.search(r'filename="([^"]*)', said)
        if name is None or filename is None:
            return None
        return LongName(name[1], filename[1])

    def on_part_begin(self) -> None:
        super().on_part_begin()
        self._size, self._dropped = 0, False

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.files_began |= self._current_part.file is not None
        if self._current_part.file is None:
            self.text += end - start
            if self.text > TEXT_MAX:
                raise MultiPartException(f"{TEXT_PAST} {TEXT_MAX} bytes.")
            super().on_part_data(data, start, end)
            return
        self._size += end - start
        if self._dropped:
            return
        if self.stored + self._size > self.limit:
            self._drop()
            return
        super().on_part_data(data, start, end)

    def _drop(self) -> None:
        """Let go of the current file: its pending chunks and what its spool holds."""
        part = self._current_part
        self._dropped = True
        self._file_parts_to_write = [(p, d) for p, d in self._file_parts_to_write if p is not part]
        assert part.file is not None
        part.file.file.close()  # a SpooledTemporaryFile: closed, its bytes are gone

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is not None and self._dropped:
            self.not_kept.append(NotKept(part.field_name, part.file.filename or "", self._size))
            return
        self.stored += self._size  # 0 for a text field
        super().on_part_end()


async def read_bounded(request: Request, limit: int) -> BoundedForm:
    """The form of ``request`` with at most ``limit`` bytes of files kept (see the module);
    a form the parser refuses is a 400 (``HTTPException``, as ``Request.form`` raises it).
    The form is the request's own from here on: ``request.form()`` gives it again."""
    kind, _ = parse_options_header(request.headers.get("Content-Type"))
    parser: BoundedParser | None = None
    try:
        if kind == b"multipart/form-data":
            parser = BoundedParser(request, limit)
            read = BoundedForm(await parser.parse(), limit, parser.not_kept)
        elif kind == b"application/x-www-form-urlencoded":
            form = await FormParser(request.headers, _text_only(request.stream())).parse()
            read = BoundedForm(form, limit)
        else:
            read = BoundedForm(FormData(), limit)
    except MultiPartException as exc:
        if parser is None or (long := parser.long_name(exc)) is None:
            raise HTTPException(400, exc.message) from None
        read = BoundedForm(_texts(parser), limit, parser.not_kept, long_name=long)  # all closed
    except BodyTooLarge:  # past the ceiling: the text read so far, no file (all closed)
        assert parser is not None  # a form of text only is refused at TEXT_MAX, far below
        read = BoundedForm(_texts(parser), limit, parser.not_kept, cut=True)
    except ClientDisconnect:  # the line dropped: the text, when it came whole; no file
        if parser is None or not parser.files_began:
            raise
        for _, value in parser.items:
            if isinstance(value, UploadFile):
                await value.close()
        read = BoundedForm(_texts(parser), limit, parser.not_kept, cut=True)
    request._form = read.form  # Request.form() caches its form there
    return read


def _texts(parser: BoundedParser) -> FormData:
    """The text fields the parser has read whole."""
    return FormData([(k, v) for k, v in parser.items if isinstance(v, str)])


async def _text_only(stream: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    """A form of text alone (no files), refused past :data:`TEXT_MAX`."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > TEXT_MAX:
            raise MultiPartException(f"{TEXT_PAST} {TEXT_MAX} bytes.")
        yield chunk


# a file past the photos' limit together: dropped as it came
NOT_KEPT = ("{kind}“{name}”（{size}）未保存：一次保存或提交的照片和文件合计不能超过 {limit}，"
            "这一个已放不下。已填写的内容和其余照片已保存为草稿；"
            "请再次选择它，点“保存草稿”添加。")  # fmt: skip
# a post cut off at the ceiling: what came before the cut is the draft, no file of it stored
CUT = ("提交的内容超过了 {ceiling} 的上限，超出部分未读取：本次选择的照片和文件都未保存"
       "（一次保存或提交的照片和文件合计不能超过 {limit}）。已填写的文字已保存为草稿；"
       "请少选几张照片，点“保存草稿”，再分几次添加其余的照片和文件。")  # fmt: skip
# a file's name past the parser's bound: nothing after it could be read
LONG_NAME = ("{kind}“{name}”未保存：文件名过长，最多 {most} 个字符。本次选择的照片和文件都未保存"
             "（文件名过长，表单读到这里无法再读）。已填写的文字已保存为草稿；"
             "请给它改名后重新选择，点“保存草稿”添加。")  # fmt: skip


def unread(read: BoundedForm) -> list[str]:
    """What of the post was not stored, as the page says it: each file dropped, by name and
    size, or the cut at the ceiling; each with the limit."""
    limit = size_label(read.limit)
    if read.long_name is not None:
        shown = name_shown(read.long_name.start).removesuffix("…") + "…"  # only its start came
        kind = "照片" if read.long_name.field == "photo" else "文件"
        return [LONG_NAME.format(kind=kind, name=shown, most=NAME_MAX)]
    if read.cut:
        return [CUT.format(ceiling=size_label(ceiling(read.limit)), limit=limit)]
    return [
        NOT_KEPT.format(kind="照片" if f.field == "photo" else "文件",
                        name=name_shown(f.filename), size=size_label(f.size), limit=limit)
        for f in read.not_kept
    ]  # fmt: skip
