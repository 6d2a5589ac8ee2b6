"""Reading a ticket back from its ESC/POS bytes, independently of python-escpos."""

from __future__ import annotations

from PIL import Image, ImageChops

ESC, GS = 0x1B, 0x1D


def decode_escpos(data: bytes) -> Image.Image:
    """The image a ticket's ESC/POS bytes print: initialise, GS v 0 raster blocks, feed, cut; nothing else.

    Raster bits are 1 for a printed (black) dot; the image returned is mode
    "1" with black printed dots. Blocks are stacked top to bottom.
    """
    assert data[:2] == bytes((ESC, ord("@"))), "a ticket starts with ESC @"
    i, blocks, cut = 2, [], False
    while i < len(data):
        assert not cut, f"bytes after the cut at {i}: {data[i:i + 8]!r}"
        if data[i:i + 4] == bytes((GS, ord("v"), ord("0"))) + b"\x00":
            width_bytes = data[i + 4] + 256 * data[i + 5]
            height = data[i + 6] + 256 * data[i + 7]
            size = width_bytes * height
            bits = data[i + 8:i + 8 + size]
            assert len(bits) == size, "a raster block is cut short"
            blocks.append(Image.frombytes("1", (width_bytes * 8, height), bytes(b ^ 0xFF for b in bits)))
            i += 8 + size
        elif data[i] == ESC and data[i + 1] == ord("d"):  # print and feed n lines
            i += 3
        elif data[i] == GS and data[i + 1] == ord("V"):  # cut
            i += 4 if data[i + 2] in (65, 66) else 3
            cut = True
        else:
            raise AssertionError(f"unexpected ESC/POS command at {i}: {data[i:i + 8]!r}")
    assert blocks, "no raster image"
    assert cut, "no cut at the end"
    widths = {block.width for block in blocks}
    assert len(widths) == 1, f"raster blocks of different widths: {widths}"
    image = Image.new("1", (blocks[0].width, sum(b.height for b in blocks)), 1)
    top = 0
    for block in blocks:
        image.paste(block, (0, top))
        top += block.height
    return image


def same_picture(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("L"), b.convert("L")).getbbox() is None
