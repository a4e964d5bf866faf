"""Rewrite a wheel without some of its files (for a machine that accepts at most 64 MiB per transfer).

    python benchmarks/repack_wheel.py IN.whl OUT_DIR --drop PREFIX [--drop PREFIX ...] [--stub DIR/FILE=TEXT]
                                      [--lzma-above BYTES]

Entries whose path starts with a ``--drop`` prefix are left out and their lines removed from the
wheel's RECORD; ``--stub`` adds a small text file (e.g. so that a directory a program checks for
exists).  ``--lzma-above N`` stores members larger than N bytes LZMA-compressed instead of deflated
(ZIP method 14; pip installs wheels through Python's ``zipfile``, which reads it; Ray's three large
binaries shrink from 32 to 22 MiB).  File modes (executables), contents and the rest of the wheel are
unchanged, so ``pip install`` treats the result as the same distribution and version.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import zipfile
from pathlib import Path


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def repack(src: Path, out_dir: Path, drop: list[str], stubs: dict[str, str],
           lzma_above: int | None = None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    dst = out_dir / src.name
    with zipfile.ZipFile(src) as zin:
        record = next(n for n in zin.namelist() if n.endswith(".dist-info/RECORD"))
        kept = [i for i in zin.infolist() if not any(i.filename.startswith(p) for p in drop)]
        dropped = len(zin.infolist()) - len(kept)
        lines = [ln for ln in zin.read(record).decode().splitlines()
                 if ln and not any(ln.split(",", 1)[0].startswith(p) for p in drop)]
        lines = [ln for ln in lines if not ln.startswith(record + ",")]
        with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
            for info in kept:
                if info.filename == record:
                    continue
                big = lzma_above is not None and info.file_size > lzma_above
                zout.writestr(info, zin.read(info), compress_type=zipfile.ZIP_LZMA if big else zipfile.ZIP_DEFLATED,
                              compresslevel=None if big else 9)
            for name, text in stubs.items():
                data = text.encode()
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
                lines.append(_record_line(name, data))
            lines.append(f"{record},,")
            zout.writestr(zin.getinfo(record), "\n".join(lines) + "\n", compress_type=zipfile.ZIP_DEFLATED)
    print(f"{src.name}: {dropped} files left out, {src.stat().st_size / 2**20:.1f} MiB -> "
          f"{dst.stat().st_size / 2**20:.1f} MiB")
    return dst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("wheel", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--drop", action="append", default=[], help="path prefix inside the wheel to leave out")
    p.add_argument("--stub", action="append", default=[], help="PATH=TEXT: a small file to add")
    p.add_argument("--lzma-above", type=int, help="LZMA-compress members larger than this many bytes")
    a = p.parse_args()
    stubs = dict(s.split("=", 1) for s in a.stub)
    repack(a.wheel, a.out_dir, a.drop, stubs, a.lzma_above)


if __name__ == "__main__":
    main()
