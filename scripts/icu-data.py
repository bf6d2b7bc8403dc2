#!/usr/bin/env python3
"""Writes a smaller copy of the ICU data that Swift's Foundation links into every binary.

Usage: icu-data.py LIB_FOUNDATION_ICU_A OUTPUT_DIR
Prints the linker arguments that put it in place of the archive's data.

Foundation embeds all of ICU's data (34 MB: every locale's names, collations, calendars and
currencies, CJK dictionaries, transliterators, code-page converters) as the symbol
icudt<N>_dat of lib_FoundationICU.a. Dray's messages, dates and numbers are locale-independent
(English, ISO 8601, JSON), so its image keeps the data that does not depend on a locale and
the root and English locales, less what no API Dray calls reads (UNUSED_FOLDERS), and drops
the rest, as ICU's own data filters do: 2.1 of 34 MB. The result is
OUTPUT_DIR/icudata.o, which defines dray_icudata; `--defsym=icudt<N>_dat=dray_icudata` makes
the archive's symbol defined before the archive is searched, so the linker leaves the archive's
member (and its 34 MB) out.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile

LOCALE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]+)*$")
KEEP_ALWAYS = {"root", "pool", "res_index"}


# Folders and items no API Dray calls reads: break iterators (words, lines), collation
# (localized sorting), the names of currencies, languages, regions and units, spelled-out
# numbers, and the names of Unicode characters. Time zones (zoneinfo64, metaZones,
# timezoneTypes), normalization, case mapping and IDNA stay.
UNUSED_FOLDERS = {"translit", "brkitr", "coll", "curr", "lang", "region", "unit", "rbnf"}
UNUSED_ITEMS = {"unames.icu"}


def keep(name):
    """True for an item Dray's image keeps: anything not tied to a locale that Foundation may read
    for Dray, and root and English."""
    path = name.split("/", 1)[1]  # without the icudt76l/ package prefix
    folder, _, base = path.rpartition("/")
    stem, _, extension = base.rpartition(".")
    if folder in UNUSED_FOLDERS or base in UNUSED_ITEMS or extension in ("cnv", "dict"):
        return False  # as above; legacy code pages, CJK/Thai word dictionaries
    if extension != "res" or stem in KEEP_ALWAYS or not LOCALE.match(stem):
        return True
    return stem == "en" or stem.startswith("en_")


def items(data):
    """The package's header and its items, as (name, bytes), in table-of-contents order."""
    header_size = struct.unpack_from("<H", data, 0)[0]
    if data[2:4] != b"\xda\x27":
        raise SystemExit("not an ICU common data package")
    if data[8:10] != b"\x00\x00" or data[12:16] != b"CmnD":
        raise SystemExit("not a little-endian ICU common data package (format %r)" % data[12:16])
    toc = header_size
    count = struct.unpack_from("<I", data, toc)[0]
    entries = [struct.unpack_from("<II", data, toc + 4 + 8 * i) for i in range(count)]
    result = []
    for i, (name_offset, data_offset) in enumerate(entries):
        start = toc + name_offset
        name = data[start:data.index(b"\0", start)].decode()
        end = toc + entries[i + 1][1] if i + 1 < count else len(data)
        result.append((name, data[toc + data_offset:end]))
    return data[:header_size], result


def package(header, kept):
    """An ICU common data package: the header, a table of contents, the names, then each item
    on a 16-byte boundary."""
    count = len(kept)
    names = b"".join(name.encode() + b"\0" for name, _ in kept)
    toc_size = 4 + 8 * count
    offset = toc_size + len(names)
    offset += -offset % 16
    table, blobs, name_offset = [], [], toc_size
    for name, blob in kept:
        table.append(struct.pack("<II", name_offset, offset))
        name_offset += len(name.encode()) + 1
        blobs.append(blob + b"\0" * (-len(blob) % 16))
        offset += len(blobs[-1])
    toc = struct.pack("<I", count) + b"".join(table) + names
    toc += b"\0" * (-len(toc) % 16)
    return header + toc + b"".join(blobs)


def main():
    archive, output = sys.argv[1], sys.argv[2]
    os.makedirs(output, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        members = subprocess.run(["ar", "t", archive], check=True, capture_output=True, text=True).stdout.split()
        member = next(m for m in members if m.startswith("icu_packaged_data"))
        subprocess.run(["ar", "x", archive, member], cwd=work, check=True)
        symbols = subprocess.run(["nm", member], cwd=work, check=True, capture_output=True, text=True).stdout
        symbol = re.search(r"\bR (icudt\d+_dat)\b", symbols).group(1)
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.rodata", member, "full.dat"], cwd=work, check=True)
        with open(os.path.join(work, "full.dat"), "rb") as f:
            data = f.read()
    header, all_items = items(data)
    kept = [(name, blob) for name, blob in all_items if keep(name)]
    slim = package(header, kept)
    with open(os.path.join(output, "icudata.dat"), "wb") as f:
        f.write(slim)
    with open(os.path.join(output, "icudata.S"), "w") as f:
        f.write(
            "\t.section .rodata\n\t.globl {0}\n\t.type {0}, @object\n\t.balign 16\n{0}:\n"
            '\t.incbin "{1}"\n\t.size {0}, . - {0}\n\t.section .note.GNU-stack,"",@progbits\n'.format(
                "dray_icudata", os.path.join(os.path.abspath(output), "icudata.dat")))
    subprocess.run(["cc", "-c", "icudata.S", "-o", "icudata.o"], cwd=output, check=True)
    print("--defsym=%s=dray_icudata %s" % (symbol, os.path.join(os.path.abspath(output), "icudata.o")))
    print("ICU data: %d of %d items, %.1f of %.1f MB" % (
        len(kept), len(all_items), len(slim) / 1e6, len(data) / 1e6), file=sys.stderr)


if __name__ == "__main__":
    main()
