"""Hostile inputs shared by the attack tests: XSS and SQL payloads, crafted files, raw multipart."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image

# -- stored XSS ----------------------------------------------------------------------
# Every payload carries the marker, so a page can be searched for where it ended up.
XSS_MARK = "xq7"
XSS = (
    f'<script>alert("{XSS_MARK}")</script>',
    f'"><img src=x onerror=alert("{XSS_MARK}")>',
    f"javascript:alert('{XSS_MARK}')",
    f"</textarea><svg onload=alert('{XSS_MARK}')>",
    f"{{{{7*7}}}} {{% print('{XSS_MARK}') %}} ${{7*7}}",
    f"invoice\u202egpj.exe {XSS_MARK}",
    f"=cmd|'/C calc'!A0 {XSS_MARK}",
)
XSS_TEXT = " ".join(XSS)  # one field holding every payload
# What must never appear in a page (raw markup of the payloads).
XSS_RAW = ("<script>alert", "<img src=x", "\"><img", "<svg onload", "</textarea><svg",
           "<b onmouseover")
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# -- SQL injection ---------------------------------------------------------------------
SQLI = (
    "' OR 1=1--",
    "1' OR '1'='1",
    "1; DROP TABLE tips; --",
    "1); DROP TABLE cases; --",
    '") UNION SELECT id, username, password_hash FROM users--',
    "' UNION SELECT NULL,NULL,NULL--",
    "1 AND SLEEP(5)",
    "'; SELECT pg_sleep(5); --",
    "%' OR '%'='",
    "\\'; --",
    "abc\x00def",
    "-1",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "x" * 5000,
    "\u00b2",  # a digit to str.isdigit(), not to int()
)


# -- files ---------------------------------------------------------------------------
def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    """A small valid JPEG."""
    buf = io.BytesIO()
    Image.new("RGB", size, (30, 160, 90)).save(buf, "JPEG")
    return buf.getvalue()


def gps_jpeg() -> bytes:
    """A JPEG carrying camera make, model and a GPS position in its EXIF."""
    img = Image.new("RGB", (120, 80), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SecretCamMaker"
    exif[0x0110] = "SecretPhoneModel"
    exif[0x8825] = {1: "N", 2: (32.0, 58.0, 30.0), 3: "E", 4: (114.0, 1.0, 12.0)}
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def has_gps(data: bytes) -> bool:
    """True when an image still carries a GPS IFD or the camera strings."""
    with Image.open(io.BytesIO(data)) as im:
        exif = im.getexif()
        gps = bool(exif.get_ifd(0x8825)) or 0x8825 in exif
    return gps or b"SecretCamMaker" in data or b"SecretPhoneModel" in data


HTML_TAIL = b"<html><body><script>alert('polyglot-tail')</script></body></html>"


def jpeg_html_polyglot() -> bytes:
    """A valid JPEG followed by an HTML page with a script."""
    return jpeg() + HTML_TAIL


def zip_bytes(members: dict[str, bytes], level: int = 9) -> bytes:
    """A ZIP archive (deflated)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def zip_bomb() -> bytes:
    """About 60 KB that inflate to 64 MB."""
    return zip_bytes({"photo.jpg": b"\0" * (64 * 1024 * 1024)})


def pdf_zip_polyglot() -> bytes:
    """A valid one-page PDF with a ZIP (holding an HTML page) appended after %%EOF."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue() + zip_bytes({"index.html": HTML_TAIL})


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares huge dimensions (pixel flood)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def png_bomb(side: int = 6000) -> bytes:
    """A real, valid PNG of side × side black pixels: a few KB on the wire."""
    buf = io.BytesIO()
    Image.new("L", (side, side)).save(buf, "PNG")
    return buf.getvalue()


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is patched to declare huge dimensions."""
    data = bytearray(jpeg((16, 16)))
    at = data.index(b"\xff\xc0")
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


SVG_AS_IMAGE = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" '
                b"onload=\"alert('svg')\"><script>alert('svg')</script></svg>")
HTML_AS_IMAGE = b"<!DOCTYPE html><html><script>alert('html')</script></html>"

TRAVERSAL_NAMES = {  # name as sent → name shown
    "../../etc/passwd": "passwd",
    "..\\..\\windows\\win.ini": "win.ini",
    "/etc/cron.d/evil": "evil",
    "C:\\Users\\wang\\Desktop\\举报.jpg": "举报.jpg",
    "..": "file",
    "a\x00b.jpg": "a_b.jpg",
}
RTL_NAME = "invoice\u202egpj.exe"
RTL_SHOWN = "invoice_gpj.exe"


# -- raw multipart (full control over names and parts) ---------------------------------
BOUNDARY = "secTestBoundary5f3a9c"


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def multipart(fields: list[tuple[str, str]],
              files: list[tuple[str, str, bytes, str]] = ()) -> tuple[bytes, str]:
    """A multipart/form-data body: (body, content type). Files are (field, name, data, type)."""
    out = bytearray()
    for name, value in fields:
        out += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                .encode() + value.encode() + b"\r\n")
    for field, filename, data, ctype in files:
        out += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; '
                f'filename="{_quoted(filename)}"\r\nContent-Type: {ctype}\r\n\r\n'
                .encode() + data + b"\r\n")
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={BOUNDARY}"


def post_raw(client, path: str, body: bytes, content_type: str, *, chunked: bool = False):  # type: ignore[no-untyped-def]
    """POST a prepared body, with a Content-Length or (chunked) without one."""
    environ = {"wsgi.input": io.BytesIO(body), "CONTENT_TYPE": content_type}
    if chunked:
        environ.update({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True})
    else:
        environ["CONTENT_LENGTH"] = str(len(body))
    return client.post(path, environ_overrides=environ)
