"""Decide a file's type from its first bytes (never from its name or declared type)."""

from __future__ import annotations

from dataclasses import dataclass

HEAD_BYTES = 64


@dataclass(frozen=True)
class FileType:
    """An accepted type: MIME type, file extension and family (image/pdf/audio/video)."""

    mime: str
    ext: str
    family: str


JPEG = FileType("image/jpeg", "jpg", "image")
PNG = FileType("image/png", "png", "image")
WEBP = FileType("image/webp", "webp", "image")
HEIC = FileType("image/heic", "heic", "image")
PDF = FileType("application/pdf", "pdf", "pdf")
MP3 = FileType("audio/mpeg", "mp3", "audio")
M4A = FileType("audio/mp4", "m4a", "audio")
AAC = FileType("audio/aac", "aac", "audio")
AMR = FileType("audio/amr", "amr", "audio")
WAV = FileType("audio/wav", "wav", "audio")
OGG = FileType("audio/ogg", "ogg", "audio")
MP4 = FileType("video/mp4", "mp4", "video")
THREEGP = FileType("video/3gpp", "3gp", "video")
MOV = FileType("video/quicktime", "mov", "video")

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
_3GP_BRANDS = {b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3gs7", b"3ge6", b"3ge7", b"3gg6",
               b"3g2a", b"3g2b", b"3g2c"}
_MP4_BRANDS = {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1",
               b"MSNV", b"dash", b"mmp4", b"NDAS", b"F4V ", b"XAVC"}
_MOV_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def _ftyp(head: bytes) -> FileType | None:
    brand = head[8:12]
    if brand in _HEIC_BRANDS:
        return HEIC
    if brand in _M4A_BRANDS:
        return M4A
    if brand in _3GP_BRANDS:
        return THREEGP
    if brand == b"qt  ":
        return MOV
    if brand in _MP4_BRANDS:
        return MP4
    return None


def _mpeg_audio(head: bytes) -> FileType | None:
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    layer = (head[1] >> 1) & 0x03
    if layer == 0 and head[1] & 0xF6 == 0xF0:
        return AAC  # ADTS
    if layer != 0 and (head[1] >> 3) & 0x03 != 0x01:
        return MP3
    return None


def detect(head: bytes) -> FileType | None:
    """The accepted type of a file starting with `head`, or None when it is not allowed."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"ID3"):
        return MP3
    if head.startswith(b"#!AMR"):
        return AMR
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"ADIF"):
        return AAC
    if head[4:8] == b"ftyp":
        return _ftyp(head)
    if head[4:8] in _MOV_ATOMS:
        return MOV
    return _mpeg_audio(head)
