"""Checking report photos from their bytes, and making thumbnails (pure: no Flask, no DB).

The type is sniffed from the leading bytes (magic numbers), never taken from the file name or
the client's Content-Type, so a PDF or a text file renamed ``.jpg`` is refused. Pillow is then
told to use only the decoder for the sniffed type, so the dozens of other formats Pillow can
parse are never exposed to uploaded bytes.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from PIL import ExifTags, Image, ImageOps

from fieldapp import bounds
from fieldapp.domain import CHINA_TZ

__all__ = [
    "ImageInfo",
    "ImageRejected",
    "RejectionCode",
    "inspect_image",
    "make_thumbnail",
]

RejectionCode = Literal[
    "too_large",
    "empty",
    "not_an_image",
    "unsupported_type",
    "corrupt",
    "too_many_pixels",
    "bad_proportions",
]

#: The most pixels a photo may have: 40 MP is above any phone camera's default; decoding
#: costs time and memory by the pixel, whatever the file's size (a 77 KB PNG of 1 × 40 M
#: pixels took 4 s to check and 3 s to thumbnail).
MAX_PIXELS = 40_000_000
#: The most one side may exceed the other: a panorama is about 1:4, a receipt 1:3; a photo
#: of 1:20 or narrower is no photo of a scene, and the width of 1 px makes it a bomb.
MAX_ASPECT = 20


_ACCEPTED_TYPES = "JPEG, PNG or WebP"
_CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
}

# Pillow raises a zoo of exception types on hostile or damaged input (fuzzing finds new ones);
# every one of them means "these bytes do not decode", never a bug worth a 500.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,  # Pillow's "broken PNG file", "not a TIFF file", …
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ArithmeticError,  # ZeroDivisionError, OverflowError from nonsense header values
    struct.error,
)

# ISO base media (HEIF/AVIF) brands, from the "ftyp" box at offset 4.
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_AVIF_BRANDS = {b"avif", b"avis"}
_GENERIC_HEIF_BRANDS = {b"mif1", b"msf1"}


class ImageRejected(Exception):
    """An upload that is not an acceptable photo.

    ``code`` is stable (the API puts it in its error body); ``message`` is English a person
    can act on.
    """

    def __init__(self, code: RejectionCode, message: str) -> None:
        super().__init__(message)
        self.code: RejectionCode = code
        self.message = message


@dataclass(frozen=True)
class ImageInfo:
    """What an accepted photo is. EXIF fields are None when absent or unreadable.

    ``width``/``height`` are as stored in the file, before any EXIF rotation: a portrait phone
    photo with orientation 6 reports width > height (its thumbnail is upright).
    """

    content_type: str
    width: int
    height: int
    exif_lon: float | None  # WGS-84 decimal degrees, east positive
    exif_lat: float | None  # WGS-84 decimal degrees, north positive
    exif_taken_at: datetime | None  # always timezone-aware


def inspect_image(
    data: bytes, *, max_bytes: int = 10 * 1024 * 1024, max_pixels: int = MAX_PIXELS
) -> ImageInfo:
    """Check uploaded photo bytes and read their size and EXIF position and time.

    Raises ImageRejected (codes: empty, too_large, not_an_image, unsupported_type, corrupt,
    too_many_pixels). Pillow's own global limit (``Image.MAX_IMAGE_PIXELS``) still applies
    when it is lower than ``max_pixels``.
    """
    if not data:
        raise ImageRejected(
            "empty", "The file is empty (0 bytes). Choose the photo again and resend it."
        )
    if len(data) > max_bytes:
        raise ImageRejected(
            "too_large",
            f"The photo is {_megabytes(len(data))} MB; the limit is {_megabytes(max_bytes)} MB. "
            "Send a smaller photo or lower the camera resolution.",
        )
    pillow_format = _pillow_format(_sniff(data))
    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as probe:
            width, height = probe.size
            # Checked before any pixel is decoded: the header alone says how much memory
            # decoding would take.
            _check_dimensions(width, height, max_pixels)
            # verify() checks what it can without decoding (PNG chunk CRCs) but leaves the
            # image unusable, hence the second open to decode every pixel and catch truncation.
            probe.verify()
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
            # Note: if anything in the process sets ImageFile.LOAD_TRUNCATED_IMAGES, Pillow
            # pads truncated photos with grey instead of raising, and they pass here.
            image.load()
            exif = _read_exif(image)
    except ImageRejected:
        raise
    except Image.DecompressionBombError:
        # Pillow refuses at open() above twice its MAX_IMAGE_PIXELS, before our own check.
        raise ImageRejected(
            "too_many_pixels",
            "The photo has far too many pixels to process. Lower the camera resolution or "
            "send a smaller photo.",
        ) from None
    except _DECODE_ERRORS:
        raise ImageRejected(
            "corrupt",
            "The photo is damaged or incomplete (perhaps the upload was cut off). "
            "Take or send it again.",
        ) from None
    lon, lat = _gps_position(exif)
    return ImageInfo(
        content_type=_CONTENT_TYPES[pillow_format],
        width=width,
        height=height,
        exif_lon=lon,
        exif_lat=lat,
        exif_taken_at=_taken_at(exif),
    )


def make_thumbnail(data: bytes, *, max_side: int = 320) -> bytes:
    """Return a JPEG of the photo, upright, no side longer than ``max_side``, with no metadata.

    The photo is turned as its EXIF orientation says (phones store it sideways and set a tag),
    transparency is flattened onto white, and no EXIF, XMP or GPS is copied: thumbnails are
    shown widely and must not reveal where a photo was taken. Raises ImageRejected, as
    inspect_image does, for bytes that are not an accepted photo or do not decode.
    """
    pillow_format = _pillow_format(_sniff(data))
    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
            # The worker checks again from the header: a photo stored before the limits (or
            # by another path) must not cost seconds here either.
            _check_dimensions(*image.size, MAX_PIXELS)
            # JPEG only: decode at 1/2…1/8 scale straight away, far less memory and time for
            # 12-50 MP phone photos. A square box is safe before rotation.
            image.draft(None, (max_side, max_side))
            upright = _upright(image)
            upright.thumbnail((max_side, max_side))
            rgb = _flatten_to_rgb(upright)
            out = io.BytesIO()
            # Pillow's JPEG writer only embeds EXIF/XMP passed here explicitly, so none is.
            rgb.save(out, "JPEG", quality=80, optimize=True)
            return out.getvalue()
    except ImageRejected:
        raise
    except Image.DecompressionBombError:
        raise ImageRejected(
            "too_many_pixels", "The photo has far too many pixels to make a thumbnail."
        ) from None
    except _DECODE_ERRORS:
        raise ImageRejected(
            "corrupt", "The photo is damaged or incomplete; no thumbnail could be made."
        ) from None


def _sniff(data: bytes) -> str:
    """Name the format from magic numbers, or raise the rejection a person should see."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        return _sniff_iso_media(data)
    if head.startswith((b"GIF87a", b"GIF89a")):
        raise _unsupported("GIF")
    if head.startswith(b"BM"):
        raise _unsupported("BMP")
    if head.startswith((b"II*\x00", b"MM\x00*")):
        raise _unsupported("TIFF")
    if head.lstrip().startswith(b"%PDF"):
        raise ImageRejected(
            "not_an_image",
            f"This file is a PDF document, not a photo. Send the photo itself ({_ACCEPTED_TYPES}).",
        )
    raise ImageRejected(
        "not_an_image",
        f"This file is not a photo, whatever its name says. Send a {_ACCEPTED_TYPES} picture.",
    )


def _sniff_iso_media(data: bytes) -> str:
    """HEIC from iPhones and many Android phones, or AVIF; both are ISO-BMFF with an ftyp box."""
    box_size = int.from_bytes(data[:4], "big")
    end = min(box_size, len(data), 4096) if box_size >= 16 else min(len(data), 64)
    major = data[8:12]
    compatible = {data[i : i + 4] for i in range(16, end - 3, 4)}
    brands = {major} | compatible
    if major in _AVIF_BRANDS or (major not in _HEIC_BRANDS and brands & _AVIF_BRANDS):
        raise _unsupported("AVIF")
    if brands & (_HEIC_BRANDS | _GENERIC_HEIF_BRANDS):
        return "HEIF"
    raise ImageRejected(
        "not_an_image",
        "This file looks like a video or other media file, not a photo. "
        f"Send a {_ACCEPTED_TYPES} picture.",
    )


def _pillow_format(sniffed: str) -> str:
    """The Pillow decoder to use, refusing HEIC unless a HEIF plugin (pillow-heif) is loaded."""
    if sniffed == "HEIF":
        Image.init()  # plugins register lazily; make sure a registered opener is seen
        if "HEIF" not in Image.OPEN:
            raise ImageRejected(
                "unsupported_type",
                "HEIC photos (the iPhone and some Android default) are not accepted. "
                'Set the camera format to "Most Compatible" (iPhone: Settings > Camera > '
                "Formats) or JPEG, or send the photo as JPEG.",
            )
    return sniffed


def _unsupported(kind: str) -> ImageRejected:
    return ImageRejected(
        "unsupported_type",
        f"{kind} images are not accepted. Send the photo as {_ACCEPTED_TYPES}.",
    )


def _check_dimensions(width: int, height: int, max_pixels: int) -> None:
    """Refuse, from the header's size alone, a photo too large or too narrow to decode."""
    if width * height > max_pixels:
        raise _too_many_pixels(width, height, max_pixels)
    if min(width, height) < 1 or max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageRejected(
            "bad_proportions",
            f"The photo is {width} × {height} pixels: one side is more than {MAX_ASPECT} "
            "times the other. Send an ordinary photo of the scene.",
        )


def _too_many_pixels(width: int, height: int, max_pixels: int) -> ImageRejected:
    return ImageRejected(
        "too_many_pixels",
        f"The photo is {width} × {height} pixels ({width * height / 1e6:.1f} megapixels); "
        f"the limit is {max_pixels / 1e6:g} megapixels. Lower the camera resolution or send "
        "a smaller photo.",
    )


def _megabytes(size: int) -> str:
    # Rounded up, so a file one byte over a 10 MB limit reads "10.1 MB", not "10.0 MB".
    value = math.ceil(size / 2**20 * 10) / 10
    return f"{value:g}"


def _read_exif(image: Image.Image) -> Image.Exif | None:
    try:
        return image.getexif()
    except _DECODE_ERRORS:
        return None  # unreadable EXIF loses the metadata, not the photo


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except _DECODE_ERRORS:
        # Pixels fine, EXIF unreadable: a sideways thumbnail beats none.
        image.load()
        return image.copy()


def _flatten_to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        # JPEG has no alpha; dropping it would show whatever colour hides under transparent
        # pixels (often black), so composite onto white as a viewer would.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


def _gps_position(exif: Image.Exif | None) -> tuple[float | None, float | None]:
    """(lon, lat) from the GPS IFD, or (None, None) when absent or implausible."""
    if exif is None:
        return None, None
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        if not gps:
            return None, None
        datum = _text(gps.get(ExifTags.GPS.GPSMapDatum))
        # Phones record raw GNSS fixes, i.e. WGS-84 (not China's GCJ-02, which only map apps
        # apply). A camera declaring another datum would be off by up to hundreds of metres.
        if datum and "WGS" not in datum.upper():
            return None, None
        lat = _signed_degrees(
            gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "N", "S"
        )
        lon = _signed_degrees(
            gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "E", "W"
        )
    except _DECODE_ERRORS:
        return None, None  # malformed EXIF is common; a photo without a position is fine
    if lat is None or lon is None:
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    if lat == 0 and lon == 0:
        # Some phones write 0/0 when they had no fix; nobody reports from the Gulf of Guinea.
        return None, None
    return lon, lat


def _signed_degrees(dms: Any, ref: Any, positive: str, negative: str) -> float | None:
    """EXIF degrees/minutes/seconds rationals and an N/S or E/W ref to signed decimal degrees.

    A missing or unknown ref gives None: a position in the wrong hemisphere is worse than none.
    """
    if dms is None:
        return None
    parts = [float(v) for v in (dms if isinstance(dms, tuple | list) else (dms,))]
    # EXIF says three values; some writers put decimal degrees in the first and omit the rest.
    if not 1 <= len(parts) <= 3 or not all(math.isfinite(p) and p >= 0 for p in parts):
        return None  # a zero denominator reads as NaN
    parts += [0.0] * (3 - len(parts))
    value = parts[0] + parts[1] / 60 + parts[2] / 3600
    direction = _text(ref).upper()
    if direction == positive:
        return value
    if direction == negative:
        return -value
    return None


def _taken_at(exif: Image.Exif | None) -> datetime | None:
    """DateTimeOriginal as an aware datetime, or None when absent or malformed."""
    if exif is None:
        return None
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        # Some writers misplace the tag in IFD0; still the capture time.
        raw = _text(sub.get(ExifTags.Base.DateTimeOriginal)) or _text(
            exif.get(ExifTags.Base.DateTimeOriginal)
        )
        if not raw:
            return None
        # "YYYY:MM:DD HH:MM:SS"; unknown parts are blank or zero, which strptime refuses.
        taken = datetime.strptime(raw[:19], "%Y:%m:%d %H:%M:%S")
        offset = _parse_offset(_text(sub.get(ExifTags.Base.OffsetTimeOriginal)))
    except _DECODE_ERRORS:
        return None
    # No (readable) offset: EXIF without OffsetTimeOriginal is local wall-clock time, and our
    # officers work in China, so assume China Standard Time (UTC+8, no daylight saving).
    taken = taken.replace(tzinfo=offset or CHINA_TZ)
    # A camera clock never set reads 1970 or 2000-01-01; a broken one any year. Outside the
    # window every stored date keeps to (fieldapp.bounds) it is no capture time.
    try:
        bounds.check_instant(taken)
    except ValueError:
        return None
    return taken


def _parse_offset(text: str) -> timezone | None:
    # EXIF 2.31 format "+HH:MM"; anything else is treated as absent rather than guessed at.
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    if not (text[1:3].isdigit() and text[4:6].isdigit()):
        return None
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="ignore")
    return str(value).strip("\x00 ")
