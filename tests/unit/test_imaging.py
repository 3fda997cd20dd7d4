"""Photo checks and thumbnails, on images made in memory with Pillow (no files, no DB)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from fieldapp.domain import CHINA_TZ
from fieldapp.imaging import (
    ImageInfo,
    ImageRejected,
    inspect_image,
    make_thumbnail,
)

# Rizhao city centre, roughly 35°25'N 119°31'E.
RIZHAO_LAT_DMS = (35.0, 25.0, 1.2)
RIZHAO_LON_DMS = (119.0, 31.0, 33.6)
RIZHAO_LAT = 35 + 25 / 60 + 1.2 / 3600
RIZHAO_LON = 119 + 31 / 60 + 33.6 / 3600


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def _exif(
    *,
    lat: Any = RIZHAO_LAT_DMS,
    lat_ref: str | None = "N",
    lon: Any = RIZHAO_LON_DMS,
    lon_ref: str | None = "E",
    taken: str | None = None,
    offset: str | None = None,
    orientation: int | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    if lat is not None:
        gps[ExifTags.GPS.GPSLatitude] = lat
    if lat_ref is not None:
        gps[ExifTags.GPS.GPSLatitudeRef] = lat_ref
    if lon is not None:
        gps[ExifTags.GPS.GPSLongitude] = lon
    if lon_ref is not None:
        gps[ExifTags.GPS.GPSLongitudeRef] = lon_ref
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    if taken is not None:
        sub[ExifTags.Base.DateTimeOriginal] = taken
    if offset is not None:
        sub[ExifTags.Base.OffsetTimeOriginal] = offset
    return exif


def _jpeg(size: tuple[int, int] = (40, 20), colour: str = "red", **params: Any) -> bytes:
    return _encode(Image.new("RGB", size, colour), "JPEG", **params)


def _noise_jpeg() -> bytes:
    # Noise compresses badly, so most of the file is scan data and cutting it truncates pixels.
    noise = Image.frombytes("RGB", (256, 256), os.urandom(256 * 256 * 3))
    return _encode(noise, "JPEG", quality=95)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares huge dimensions (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _with_jpeg_dimensions(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the baseline SOF0 header of a JPEG to declare other dimensions."""
    sof = data.index(b"\xff\xc0")
    # marker(2) length(2) precision(1) height(2) width(2)
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def _rejected(data: bytes, **kwargs: Any) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        inspect_image(data, **kwargs)
    return caught.value


# --- accepted photos ---------------------------------------------------------------------


def test_jpeg_with_gps_and_time_round_trips() -> None:
    data = _jpeg(exif=_exif(taken="2024:05:06 07:08:09", offset="+09:00"))

    info = inspect_image(data)

    assert info.content_type == "image/jpeg"
    assert (info.width, info.height) == (40, 20)
    assert info.exif_lat == pytest.approx(RIZHAO_LAT, abs=1e-9)
    assert info.exif_lon == pytest.approx(RIZHAO_LON, abs=1e-9)
    assert info.exif_taken_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=9)))


def test_gps_written_as_exif_rationals_is_read() -> None:
    lat = (IFDRational(35, 1), IFDRational(25, 1), IFDRational(120, 100))
    info = inspect_image(_jpeg(exif=_exif(lat=lat)))
    assert info.exif_lat == pytest.approx(RIZHAO_LAT, abs=1e-9)


def test_time_without_offset_is_taken_as_china_standard_time() -> None:
    info = inspect_image(_jpeg(exif=_exif(taken="2024:05:06 07:08:09")))
    assert info.exif_taken_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=CHINA_TZ)
    assert info.exif_taken_at is not None
    assert info.exif_taken_at.utcoffset() == timedelta(hours=8)


def test_negative_offset_is_honoured() -> None:
    info = inspect_image(_jpeg(exif=_exif(taken="2024:05:06 07:08:09", offset="-03:30")))
    assert info.exif_taken_at is not None
    assert info.exif_taken_at.utcoffset() == -timedelta(hours=3, minutes=30)


def test_southern_and_western_refs_give_negative_values() -> None:
    info = inspect_image(_jpeg(exif=_exif(lat_ref="S", lon_ref="W")))
    assert info.exif_lat == pytest.approx(-RIZHAO_LAT, abs=1e-9)
    assert info.exif_lon == pytest.approx(-RIZHAO_LON, abs=1e-9)


def test_jpeg_without_exif_has_no_position_or_time() -> None:
    info = inspect_image(_jpeg())
    assert (info.exif_lon, info.exif_lat, info.exif_taken_at) == (None, None, None)


def test_png_with_alpha_is_accepted() -> None:
    data = _encode(Image.new("RGBA", (30, 10), (0, 128, 0, 100)), "PNG")
    assert inspect_image(data) == ImageInfo("image/png", 30, 10, None, None, None)


def test_webp_is_accepted_with_its_exif() -> None:
    data = _encode(Image.new("RGB", (16, 12), "blue"), "WEBP", exif=_exif(lat_ref="S"))
    info = inspect_image(data)
    assert (info.content_type, info.width, info.height) == ("image/webp", 16, 12)
    assert info.exif_lat == pytest.approx(-RIZHAO_LAT, abs=1e-9)


def test_multi_picture_jpeg_from_phones_is_a_jpeg() -> None:
    # Pillow names JPEGs with an MPF segment (many phones write one) "MPO", not "JPEG".
    frames = [Image.new("RGB", (20, 10), "red"), Image.new("RGB", (20, 10), "blue")]
    data = _encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert inspect_image(data).content_type == "image/jpeg"


# --- refusals ----------------------------------------------------------------------------


def test_empty_file_is_refused() -> None:
    assert _rejected(b"").code == "empty"


def test_oversize_payload_is_refused_before_decoding() -> None:
    data = b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024)
    rejected = _rejected(data)
    assert rejected.code == "too_large"
    assert "limit is 10 MB" in rejected.message


def test_oversize_message_names_both_sizes() -> None:
    rejected = _rejected(b"x" * int(14.2 * 2**20))
    assert rejected.message == (
        "The photo is 14.2 MB; the limit is 10 MB. "
        "Send a smaller photo or lower the camera resolution."
    )
    assert str(rejected) == rejected.message


def test_size_limit_is_configurable() -> None:
    data = _jpeg()
    assert inspect_image(data, max_bytes=len(data)).content_type == "image/jpeg"
    assert _rejected(data, max_bytes=len(data) - 1).code == "too_large"


def test_text_renamed_as_jpeg_is_not_an_image() -> None:
    rejected = _rejected(b"Report: dispute at the market\n")
    assert rejected.code == "not_an_image"


def test_pdf_renamed_as_jpeg_is_not_an_image_and_says_so() -> None:
    rejected = _rejected(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    assert rejected.code == "not_an_image"
    assert "PDF" in rejected.message


def test_other_image_formats_are_unsupported() -> None:
    gif = _encode(Image.new("P", (4, 4)), "GIF")
    rejected = _rejected(gif)
    assert rejected.code == "unsupported_type"
    assert "GIF" in rejected.message
    assert _rejected(_encode(Image.new("RGB", (4, 4)), "BMP")).code == "unsupported_type"
    assert _rejected(_encode(Image.new("RGB", (4, 4)), "TIFF")).code == "unsupported_type"


def _heif_plugin_loaded() -> bool:
    Image.init()
    return "HEIF" in Image.OPEN


@pytest.mark.skipif(_heif_plugin_loaded(), reason="a HEIF plugin (pillow-heif) is installed")
def test_heic_is_refused_with_camera_advice() -> None:
    # An iPhone HEIC starts with an ISO-BMFF "ftyp" box naming the heic brand.
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200
    rejected = _rejected(heic)
    assert rejected.code == "unsupported_type"
    assert "Most Compatible" in rejected.message
    assert "JPEG" in rejected.message


def test_avif_is_unsupported() -> None:
    avif = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 200
    assert _rejected(avif).code == "unsupported_type"


def test_mp4_video_is_not_an_image() -> None:
    mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 200
    assert _rejected(mp4).code == "not_an_image"


def test_truncated_jpeg_is_corrupt() -> None:
    data = _noise_jpeg()
    rejected = _rejected(data[: len(data) // 2])
    assert rejected.code == "corrupt"
    assert "again" in rejected.message


def test_jpeg_cut_inside_its_header_is_corrupt() -> None:
    assert _rejected(_jpeg()[:40]).code == "corrupt"


def test_truncated_png_is_corrupt() -> None:
    data = _encode(Image.frombytes("L", (64, 64), os.urandom(64 * 64)), "PNG")
    assert _rejected(data[: len(data) - 300]).code == "corrupt"


def test_png_with_bad_checksum_is_corrupt() -> None:
    data = bytearray(_encode(Image.new("RGB", (8, 8), "red"), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 6] ^= 0xFF  # flip a byte of compressed data; the chunk CRC no longer matches
    assert _rejected(bytes(data)).code == "corrupt"


def test_decompression_bomb_png_header_is_refused() -> None:
    bomb = _png_header_only(100_000, 100_000)
    assert len(bomb) < 200
    assert _rejected(bomb).code == "too_many_pixels"


def test_decompression_bomb_jpeg_header_is_refused() -> None:
    assert _rejected(_with_jpeg_dimensions(_jpeg(), 65_000, 65_000)).code == "too_many_pixels"


def test_image_over_our_pixel_limit_is_refused_before_decoding() -> None:
    # 48 MP is under Pillow's own bomb limit (~89 MP) but over ours; the header is enough.
    rejected = _rejected(_png_header_only(8_000, 6_000))
    assert rejected.code == "too_many_pixels"
    assert "48.0 megapixels" in rejected.message
    assert "limit is 40 megapixels" in rejected.message


def test_pixel_limit_is_configurable() -> None:
    data = _jpeg((20, 20))
    assert inspect_image(data, max_pixels=400).width == 20
    assert _rejected(data, max_pixels=399).code == "too_many_pixels"


# --- malformed EXIF never rejects the photo ------------------------------------------------


def test_zero_denominator_in_gps_gives_no_position() -> None:
    lat = (IFDRational(35, 1), IFDRational(25, 0), IFDRational(0, 1))
    info = inspect_image(_jpeg(exif=_exif(lat=lat)))
    assert (info.exif_lon, info.exif_lat) == (None, None)


@pytest.mark.parametrize("lat_ref", [None, "X"])
def test_missing_or_unknown_hemisphere_gives_no_position(lat_ref: str | None) -> None:
    info = inspect_image(_jpeg(exif=_exif(lat_ref=lat_ref)))
    assert (info.exif_lon, info.exif_lat) == (None, None)


def test_latitude_out_of_range_gives_no_position() -> None:
    info = inspect_image(_jpeg(exif=_exif(lat=(95.0, 0.0, 0.0))))
    assert (info.exif_lon, info.exif_lat) == (None, None)


def test_zero_zero_position_means_no_fix() -> None:
    info = inspect_image(_jpeg(exif=_exif(lat=(0.0, 0.0, 0.0), lon=(0.0, 0.0, 0.0))))
    assert (info.exif_lon, info.exif_lat) == (None, None)


def test_gps_without_longitude_gives_no_position() -> None:
    info = inspect_image(_jpeg(exif=_exif(lon=None, lon_ref=None)))
    assert (info.exif_lon, info.exif_lat) == (None, None)


@pytest.mark.parametrize("taken", ["0000:00:00 00:00:00", "    :  :     :  :  ", "yesterday"])
def test_unusable_capture_time_gives_none(taken: str) -> None:
    info = inspect_image(_jpeg(exif=_exif(taken=taken)))
    assert info.exif_taken_at is None
    assert info.exif_lat == pytest.approx(RIZHAO_LAT, abs=1e-9)


def test_malformed_offset_falls_back_to_china_standard_time() -> None:
    info = inspect_image(_jpeg(exif=_exif(taken="2024:05:06 07:08:09", offset="+8h")))
    assert info.exif_taken_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=CHINA_TZ)


def test_garbage_exif_block_is_ignored() -> None:
    info = inspect_image(_jpeg(exif=b"Exif\x00\x00this is not a TIFF structure"))
    assert info == ImageInfo("image/jpeg", 40, 20, None, None, None)


# --- thumbnails --------------------------------------------------------------------------


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_thumbnail_is_a_small_rgb_jpeg() -> None:
    thumb = _open(make_thumbnail(_jpeg((1600, 800))))
    assert thumb.format == "JPEG"
    assert thumb.mode == "RGB"
    assert thumb.size == (320, 160)


def test_thumbnail_does_not_enlarge_small_photos() -> None:
    assert _open(make_thumbnail(_jpeg((40, 20)))).size == (40, 20)


def test_thumbnail_honours_exif_orientation() -> None:
    # Stored landscape, red on the left; orientation 6 means "turn 90° clockwise to view".
    image = Image.new("RGB", (800, 400), "blue")
    image.paste("red", (0, 0, 400, 400))
    thumb = _open(make_thumbnail(_encode(image, "JPEG", exif=_exif(orientation=6))))

    assert thumb.size == (160, 320)  # width and height swapped
    red_top = thumb.getpixel((80, 40))
    blue_bottom = thumb.getpixel((80, 280))
    assert isinstance(red_top, tuple) and isinstance(blue_bottom, tuple)
    assert red_top[0] > 200 and red_top[2] < 60
    assert blue_bottom[2] > 200 and blue_bottom[0] < 60


def test_thumbnail_carries_no_exif_or_location() -> None:
    # Phones also repeat the position in XMP; Pillow >= 11 writes the xmp parameter.
    xmp = b"<x:xmpmeta><exif:GPSLatitude>35,25.02N</exif:GPSLatitude></x:xmpmeta>"
    source = _jpeg((800, 600), exif=_exif(taken="2024:05:06 07:08:09", orientation=1), xmp=xmp)
    assert inspect_image(source).exif_lat is not None

    data = make_thumbnail(source)
    thumb = _open(data)

    assert "exif" not in thumb.info
    assert len(thumb.getexif()) == 0
    assert b"Exif\x00\x00" not in data
    assert b"GPSLatitude" not in data
    assert inspect_image(data).exif_lat is None


def test_thumbnail_flattens_alpha_onto_white() -> None:
    data = _encode(Image.new("RGBA", (100, 50), (255, 0, 0, 0)), "PNG")
    thumb = _open(make_thumbnail(data))
    assert thumb.mode == "RGB"
    pixel = thumb.getpixel((50, 25))
    assert isinstance(pixel, tuple)
    assert min(pixel) > 245  # white, not the red (or black) hidden under transparency


def test_thumbnail_flattens_palette_transparency_onto_white() -> None:
    palette_image = Image.new("P", (60, 30), 0)
    palette_image.putpalette([0, 0, 0, 255, 0, 0])
    data = _encode(palette_image, "PNG", transparency=0)
    pixel = _open(make_thumbnail(data)).getpixel((30, 15))
    assert isinstance(pixel, tuple)
    assert min(pixel) > 245


def test_thumbnail_of_webp_and_sixteen_bit_png() -> None:
    webp = _encode(Image.new("RGB", (640, 480), "green"), "WEBP")
    assert _open(make_thumbnail(webp, max_side=100)).size == (100, 75)
    grey16 = _encode(Image.new("I;16", (50, 50), 30_000), "PNG")
    assert _open(make_thumbnail(grey16)).mode == "RGB"


def test_thumbnail_refuses_non_images() -> None:
    with pytest.raises(ImageRejected) as caught:
        make_thumbnail(b"%PDF-1.4\n")
    assert caught.value.code == "not_an_image"
    data = _noise_jpeg()
    with pytest.raises(ImageRejected) as caught:
        make_thumbnail(data[: len(data) // 2])
    assert caught.value.code == "corrupt"
