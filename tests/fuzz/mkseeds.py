#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/NAME/.

Each seed is what a well-behaved guest (or host) does, encoded in the target's input format
(the header comment of tests/fuzz/fuzz_NAME.c), so that the fuzzer starts from deep states:
a driver brought up, requests of every kind on every queue. The boot_x86 seeds are derived
from the Debian kernel the test host uses (build/testhost/kernel, `make testhost-kernel`):
its real ELF and bzImage headers, notes and first bytes of code, truncated and with their
segments shrunk so that a seed is kilobytes, not a whole kernel.

Run from the top of the tree after changing an input format: tests/fuzz/mkseeds.py
"""
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
KERNEL = os.environ.get("KERNEL_DIR", "build/testhost/kernel")


def u8(v):
    return struct.pack("<B", v & 0xff)


def u16(v):
    return struct.pack("<H", v & 0xffff)


def u32(v):
    return struct.pack("<I", v & 0xffffffff)


def u64(v):
    return struct.pack("<Q", v & 0xffffffffffffffff)


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- uart: op = kind (0 read, 1 write, 2 host input, 3 room?) | bit 2 other ports | width

def uart_w(port_off, v):
    return u8(0x01) + u8(port_off) + u8(v)


def uart_r(port_off):
    return u8(0x00) + u8(port_off)


def seeds_uart():
    # Linux's 8250 set-up: divisor, 8n1, FIFOs, OUT2, interrupts, then output and input
    init = (uart_w(0xb, 0x80) + uart_w(0x8, 1) + uart_w(0x9, 0) + uart_w(0xb, 0x03) +
            uart_w(0xa, 0xc7) + uart_w(0xc, 0x0b) + uart_w(0x9, 0x05))
    out = b"".join(uart_w(0x8, c) for c in b"hello\n") + uart_r(0xa) + uart_r(0xd)
    inp = u8(0x02) + u8(3) + b"abc" + uart_r(0xa) + uart_r(0xd) + uart_r(0x8) * 3 + u8(0x03)
    loop = uart_w(0xc, 0x1b) + uart_w(0x8, 0x55) + uart_r(0x8) + uart_r(0xe) + uart_r(0xf)
    write("uart", "linux-init-io", init + out + inp)
    write("uart", "loopback", init + loop + uart_w(0xf, 0xaa) + uart_r(0xf))
    # 100 bytes typed at once: 64 fit, the rest wait until the guest reads
    typed = u8(0x06) + u8(100) + bytes(range(100)) + uart_r(0x8) * 40 + u8(0x07) + uart_r(0x8)
    write("uart", "input-backpressure", init + typed)
    # ACPI S5 power-off (0x3c0 = 0x3b0 + 0x10), reset (0x3c2), i8042 pulse reset (0x64)
    power = (u8(0x05) + u8(0x10 << 2) + u8(0x34) + u8(0x05) + u8(0x12 << 2) + u8(0x01) +
             u8(0x05) + u8((4 << 2) | 1) + u8(0xfe) + u8(0x04) + u8(0x10 << 2))
    write("uart", "power", power)


# ---- msix: u8 vectors-1, op % 6 with width in bits 4-5

def seeds_msix():
    # op % 7 picks the operation, bits 4-5 the width: 17 config write of 2 bytes, 35 table
    # write of 4, 50 table read of 8, 51 PBA read of 8, 4 raise, 5 message, 132 reset+flip
    ops = b""
    ops += u8(17) + u8(2) + u16(0x8000)          # control: enable
    for v in range(4):
        ops += u8(35) + u16(16 * v) + u32(0xfee00000)      # address low
        ops += u8(35) + u16(16 * v + 8) + u32(0x30 + v)   # data
        ops += u8(35) + u16(16 * v + 12) + u32(v & 1)     # odd vectors masked
    ops += u8(4) + u16(0) + u8(4) + u16(1) + u8(51) + u16(0)  # raise 0 and 1, read the PBA
    ops += u8(35) + u16(28) + u32(0) + u8(51) + u16(0)       # unmask 1: delivered
    ops += u8(17) + u8(2) + u16(0xc000) + u8(4) + u16(2) + u8(17) + u8(2) + u16(0x8000)
    ops += u8(5) + u16(2) + u8(50) + u16(8) + u8(6)
    write("msix", "enable-program-raise", u8(7) + u8(2) + ops)
    write("msix", "one-vector", u8(0) + u8(0) + u8(17) + u8(2) + u16(0x8000) + u8(4) + u16(0))
    write("msix", "refused", u8(3) + u8(3) + u8(17) + u8(2) + u16(0x8000) + u8(132) +
          u8(17) + u8(2) + u16(0x8000))
    write("msix", "large-table", u8(0x80) + u16(2047) + u8(0) + u8(17) + u8(2) + u16(0x8000) +
          u8(35) + u16(2047 * 16 + 12) + u32(0) + u8(4) + u16(2047))


# ---- pci_config: op % 8, bit 4 write, width bits 5-6

def cf8(devfn, reg):
    return u8(0x40) + u8(0) + u32(0x80000000 | devfn << 8 | reg)


def cfc_r(width=0x40):
    return u8(0x01 | width) + u8(0)


def seeds_pci_config():
    enum = b""
    for slot in range(4):
        enum += cf8(slot << 3, 0) + cfc_r()
    # size and place BAR0 of function 1 (virtio), enable decoding, touch the BAR
    bars = b""
    for fn in (0, 1):
        for bar in range(6):
            bars += u8(7) + u8(fn) + u8(bar)
    enable = u8(5) + u8(0) + u8(0) + u32(0x7) + u8(5) + u8(1) + u8(0) + u32(0x7)
    access = (u8(0x43) + u8(0) + u8(0) + u16(0x14) + u8(0x53) + u8(0) + u8(0) + u16(0x14) +
              u32(1) + u8(0x03) + u8(1) + u8(0) + u16(4) + u8(0x53) + u8(1) + u8(1) + u16(8) +
              u32(0x12345678))
    move = u8(5) + u8(1) + u8(2) + u32(0xd0000000) + u8(0x43) + u8(1) + u8(1) + u16(0)
    ecam = u8(0x42) + u8(0) + u8(8) + u16(0) + u8(0x52) + u8(0) + u8(8) + u16(4) + u32(6)
    write("pci_config", "enumerate", enum + bars + enable + access)
    write("pci_config", "move-bars", enable + move + ecam + u8(5) + u8(0) + u8(1) + u32(0))


# ---- the virtio-pci transport targets (lib/virtio_pci_fuzz.h)

ALL = 0xffffffffffffffff


def vp_init(flags=0x10, mask=ALL):
    return u8(0x09) + u8(flags) + u64(mask)


def vp_chain(q, segs, kick=True, indirect=False):
    """segs: list of (length, writable, bytes) — readable bytes are padded to length."""
    shape = (len(segs) - 1) | (0x08 if indirect else 0) | (0x10 if kick else 0)
    out = u8(0x0a) + u8(q) + u8(shape)
    for length, wr, _ in segs:
        out += u16(length | (0x8000 if wr else 0))
    for length, wr, data in segs:
        if not wr:
            out += (data or b"").ljust(length, b"\0")[:length]
    return out


def blk_hdr(t, sector=0):
    return u32(t) + u32(0) + u64(sector)


def seeds_blk():
    s = vp_init()
    reads = vp_chain(0, [(16, False, blk_hdr(0, 1)), (512, True, None), (1, True, None)])
    writes = vp_chain(0, [(16, False, blk_hdr(1, 2)), (512, False, b"\xab" * 512),
                          (1, True, None)])
    flush = vp_chain(0, [(16, False, blk_hdr(4)), (1, True, None)])
    getid = vp_chain(0, [(16, False, blk_hdr(8)), (20, True, None), (1, True, None)])
    dwz = u64(4) + u32(8) + u32(0)
    discard = vp_chain(0, [(16, False, blk_hdr(11)), (16, False, dwz), (1, True, None)])
    zeroes = vp_chain(0, [(16, False, blk_hdr(13)), (16, False, dwz), (1, True, None)],
                      indirect=True)
    cfg = u8(0x02) + u16(0x2000) + u8(0x12) + u16(0x2000)  # device config reads
    write("virtio_pci_blk", "rw-flush-getid", u8(0x10) + s + reads + writes + flush + getid)
    write("virtio_pci_blk", "discard-zeroes", u8(0) + s + discard + zeroes + cfg)
    write("virtio_pci_blk", "readonly-shrunk",
          u8(0x08) + s + writes + u8(0x0b) + u8(8) + reads + u8(0x0c) + u8(0))
    write("virtio_pci_blk", "intx-no-msix", u8(0) + vp_init(0x00) + reads + u8(0x0f))


def seeds_net():
    s = vp_init()
    frame = bytes(12) + bytes.fromhex("ffffffffffff525400123456") + b"\x08\x06" + bytes(46)
    rx = b"".join(vp_chain(0, [(1526, True, None)], kick=(i == 3)) for i in range(4))
    tx = vp_chain(1, [(len(frame), False, frame)])
    tx2 = vp_chain(1, [(12, False, bytes(12)), (60, False, frame[12:])], indirect=True)
    arrive = u8(0x0b) + u8(0) + u16(74) + frame[:64].ljust(64, b"\0")
    big = u8(0x0b) + u8(0) + u16(9000) + frame[:64].ljust(64, b"\0")
    drain = u8(0x0b) + u8(1)
    write("virtio_pci_net", "rx-tx", u8(0x08) + s + rx + tx + tx2 + arrive + drain)
    write("virtio_pci_net", "mrg-big-frame", u8(0x38) + s + rx + big + arrive + drain)
    write("virtio_pci_net", "tx-only-no-msix", u8(0) + vp_init(0x00) + tx + drain + u8(0x0f))


def seeds_console():
    s = vp_init()
    rx = vp_chain(0, [(64, True, None)]) + vp_chain(0, [(64, True, None)])
    tx = vp_chain(1, [(13, False, b"hello, world\n")])
    typed = u8(0x0b) + u16(5) + b"ls\n\0\0"
    emerg = u8(0x11) + u16(0x2008) + u16(ord("!"))  # emerg_wr
    write("virtio_pci_console", "io", u8(0) + s + rx + tx + typed + emerg)
    write("virtio_pci_console", "typed-first", u8(0) + typed + s + rx)


def seeds_rng():
    s = vp_init()
    write("virtio_pci_rng", "read", u8(0) + s + vp_chain(0, [(64, True, None)]) +
          vp_chain(0, [(16, True, None), (16, True, None)], indirect=True))
    write("virtio_pci_rng", "intx", u8(0) + vp_init(0x00) + vp_chain(0, [(8, True, None)]) +
          u8(0x0f))
    # a pipe as the source: the request waits until the host writes, then end-of-file
    write("virtio_pci_rng", "blocking-source", u8(0x08) + s + vp_chain(0, [(32, True, None)]) +
          u8(0x0b) + u8(1) + u8(8) + b"entropy!" + vp_chain(0, [(32, True, None)]) +
          u8(0x0b) + u8(2) + vp_chain(0, [(8, True, None)]))


def seeds_balloon():
    s = vp_init()
    report = vp_chain(3, [(4096, True, None)])  # the first chain: a page-aligned run
    inflate = vp_chain(0, [(8, False, u32(0x120) + u32(0x121))])
    deflate = vp_chain(1, [(4, False, u32(0x120))])
    stats = vp_chain(2, [(20, False, u16(0) + u64(1 << 20) + u16(4) + u64(1 << 30))])
    actual = u8(0x21) + u16(0x2004) + u32(2)  # the driver's actual, 4 bytes
    target = u8(0x0b) + u8(1) + u8(16)
    pinned = u8(0x0b) + u8(2) + inflate + u8(0x0b) + u8(0)
    write("virtio_pci_balloon", "report-inflate-stats",
          u8(0x08) + s + report + inflate + deflate + stats + actual + target)
    write("virtio_pci_balloon", "pinned", u8(0x28) + s + pinned + stats + stats)
    anon = vp_chain(0, [(12, False, u32(0x200) + u32(0x201) + u32(0x20f))])
    write("virtio_pci_balloon", "anonymous-ram", u8(0) + s + anon + vp_chain(1, [(4, False,
          u32(0x201))]) + vp_chain(0, [(4, False, u32(0x9999))]))


# ---- virtio_net datapath target

def seeds_virtio_net():
    hdr = u64(ALL) + u8(0x44) + u8(7)
    frame = bytes(12) + bytes.fromhex("ffffffffffff525400123456") + b"\x08\x00" + bytes(46)
    rx = b"".join(u8(0) + vp_chain(0, [(1526, True, None)], kick=(i == 3))[2:] for i in range(4))
    tx = u8(1) + vp_chain(1, [(len(frame), False, frame)])[2:]
    arrive = u8(4) + u16(74) + frame[:64].ljust(64, b"\0")
    big = u8(4) + u16(4000) + frame[:64].ljust(64, b"\0")
    write("virtio_net", "rx-tx", hdr + rx + tx + arrive + u8(5) + u8(8) + rx + arrive + u8(5))
    small = b"".join(u8(0) + vp_chain(0, [(128, True, None)], kick=True)[2:] for i in range(2))
    write("virtio_net", "mrg-parks", hdr + small + big + small * 16 + u8(2) + u8(5))
    write("virtio_net", "plain", u64(1 << 32) + u8(0x22) + u8(0) + rx + arrive + tx + u8(5))


# ---- vfio_pci

def seeds_vfio_pci():
    dev = (u8(0x02) + u8(7) + u8(3) + u8(2) + u8(6) + u8(7) + u8(2) + u16(0) + u16(1) +
           u16(2) + u16(126) + u8(0))
    cmd = u8(2) + u8(0) + u32(0x0007)
    msix_on = u8(2) + u8(10) + u32(0x8000)
    entries = b"".join(u8(5) + u8(v) + u32(0xfee00000) + u32(0x40 + v) + u8(v & 1)
                       for v in range(4))
    fire = u8(6) + u8(0) + u8(6) + u8(1) + u8(0x34) + u8(2) + u16(0x3000)  # PBA read
    msi = (u8(2) + u8(7) + u32(0xfee01000) + u8(2) + u8(8) + u32(0x51) + u8(2) + u8(6) +
           u32(0x0011) + u8(6) + u8(0x80))
    rom = u8(2) + u8(5) + u32(0xd0000001) + u8(0x24) + u8(6) + u16(0x10)
    bars = (u8(0x24) + u8(0) + u16(0x1000) + u8(0x23) + u8(1) + u16(4) + u32(5) +
            u8(2) + u8(1) + u32(0xffffffff) + u8(0x21) + u8(0x10) + u8(2) + u8(1) + u32(0xd1000000))
    intx = u8(7) + u8(1) + u8(0x11) + u8(6) + u8(7) + u8(0)
    write("vfio_pci", "msix-routes", dev + cmd + msix_on + entries + fire)
    write("vfio_pci", "msi-rom-bars", dev + cmd + msi + rom + bars + intx)
    # a device with a broken capability chain: the vendor cap points back to PM
    write("vfio_pci", "looping-caps", dev[:-1] + u8(1) + u8(0x81) + u8(0x40) + cmd)


# ---- boot_x86: derived from the Debian kernel

def shrink_elf(elf, relocate):
    """ELF header + program headers + notes + the first 4 KiB of each PT_LOAD, re-laid."""
    ehdr = bytearray(elf[:64])
    phoff, phentsize, phnum = struct.unpack_from("<Q", ehdr, 32)[0], 56, ehdr[56]
    phdrs = [bytearray(elf[phoff + i * phentsize:phoff + (i + 1) * phentsize])
             for i in range(phnum)]
    body = bytearray()
    base = 64 + phnum * phentsize
    entry = struct.unpack_from("<Q", ehdr, 24)[0]
    moves = []  # (old paddr, size kept, new paddr) of each PT_LOAD
    for i, ph in enumerate(phdrs):
        p_type, _, p_offset, _, p_paddr, p_filesz, p_memsz, _ = struct.unpack("<IIQQQQQQ", ph)
        if p_type == 1:  # PT_LOAD
            keep = min(p_filesz, 4096)
            data = elf[p_offset:p_offset + keep]
            memsz = 8192
            if relocate:
                new_paddr = 0x100000 + i * 0x10000
                moves.append((p_paddr, p_memsz, new_paddr, keep))
                if p_paddr <= entry < p_paddr + p_memsz:
                    entry = new_paddr + min(entry - p_paddr, keep - 16)
                p_paddr = new_paddr
            elif p_paddr <= entry < p_paddr + p_memsz:
                entry = p_paddr + min(entry - p_paddr, keep - 16)
        elif p_type == 4:  # PT_NOTE
            keep = p_filesz
            data = bytearray(elf[p_offset:p_offset + keep])
            memsz = p_memsz
            pvh_note_at = len(body)  # the PVH entry is moved with its segment below
        else:
            continue
        off = base + len(body)
        body += data
        struct.pack_into("<QQQQQ", ph, 8, off, struct.unpack_from("<Q", ph, 16)[0], p_paddr,
                         keep, memsz)
    if relocate:
        relocate_pvh_note(body, pvh_note_at, moves)
    struct.pack_into("<Q", ehdr, 24, entry)
    struct.pack_into("<Q", ehdr, 40, 0)  # no section headers
    struct.pack_into("<HHH", ehdr, 58, 64, 0, 0)
    return bytes(ehdr) + b"".join(bytes(p) for p in phdrs) + bytes(body)


def relocate_pvh_note(body, at, moves):
    """Points XEN_ELFNOTE_PHYS32_ENTRY (type 18) at where its code moved."""
    pos = at
    while pos + 12 <= len(body):
        namesz, descsz, ntype = struct.unpack_from("<III", body, pos)
        desc = pos + 12 + ((namesz + 3) & ~3)
        if ntype == 18 and descsz in (4, 8):
            fmt = "<I" if descsz == 4 else "<Q"
            old = struct.unpack_from(fmt, body, desc)[0]
            for paddr, memsz, new, keep in moves:
                if paddr <= old < paddr + memsz:
                    struct.pack_into(fmt, body, desc, new + min(old - paddr, keep - 16))
            return
        pos = desc + ((descsz + 3) & ~3)


def strip_notes(elf):
    b = bytearray(elf)
    phnum = b[56]
    for i in range(phnum):
        if struct.unpack_from("<I", b, 64 + i * 56)[0] == 4:
            struct.pack_into("<I", b, 64 + i * 56, 0)  # PT_NULL
    return bytes(b)


def shrink_bzimage(bz, payload, init_size=None):
    setup_sects = bz[0x1f1] or 4
    setup = bytearray(bz[:(setup_sects + 1) * 512])
    struct.pack_into("<I", setup, 0x1f4, payload // 16)  # syssize in paragraphs
    if init_size is not None:
        struct.pack_into("<I", setup, 0x260, init_size)
    return bytes(setup) + bz[len(setup):len(setup) + payload]


def seeds_boot_x86():
    vmlinux = os.path.join(KERNEL, "vmlinux")
    bzimage = os.path.join(KERNEL, "bzImage")
    if not os.path.exists(vmlinux) or not os.path.exists(bzimage):
        sys.exit(f"mkseeds: {KERNEL} has no vmlinux/bzImage: run `make testhost-kernel` first")
    with open(vmlinux, "rb") as f:
        elf = f.read()
    with open(bzimage, "rb") as f:
        bz = f.read()
    low = shrink_elf(elf, relocate=True)
    real = shrink_elf(elf, relocate=False)
    # header: protocol, RAM (2/8/64/128 MiB; bit 7 high RAM), initrd, command line
    write("boot_x86", "vmlinux-pvh-low", u8(0) + u8(1) + u8(1) + u8(1) + low)
    write("boot_x86", "vmlinux-linux64-low", u8(2) + u8(1) + u8(0) + u8(2) + low)
    write("boot_x86", "vmlinux-pvh-real-addresses", u8(0) + u8(0x82) + u8(2) + u8(7) + real)
    write("boot_x86", "vmlinux-no-pvh-note", u8(0) + u8(2) + u8(0) + u8(2) + strip_notes(low))
    write("boot_x86", "vmlinux-truncated-notes", u8(1) + u8(2) + u8(0) + u8(0) + low[:600])
    write("boot_x86", "bzimage-small", u8(0) + u8(2) + u8(1) + u8(1) +
          shrink_bzimage(bz, 4096, init_size=0x100000))
    write("boot_x86", "bzimage-real-init-size", u8(2) + u8(0x83) + u8(2) + u8(7) +
          shrink_bzimage(bz, 4096))
    write("boot_x86", "bzimage-truncated", u8(0) + u8(2) + u8(0) + u8(0) + bz[:0x280])


# ---- the parsers that existed before

def seeds_virtqueue():
    # hdr: ring size 8 with EVENT_IDX and INDIRECT, desc/avail/used at RAM + 0x100.. offsets
    hdr = u16(3 | 0x10 | 0x20) + u16(0x100) + u16(0x200) + u16(0x300)
    ram = bytearray(0x400)
    struct.pack_into("<QIHH", ram, 0, 0x10000 + 0x380, 16, 1, 1)   # desc 0 -> 1
    struct.pack_into("<QIHH", ram, 16, 0x10000 + 0x390, 16, 2, 0)  # desc 1 writable
    struct.pack_into("<HHH", ram, 0x100, 0, 1, 0)                   # avail: idx 1, ring[0]=0
    write("virtqueue", "one-chain", hdr + bytes(ram))


def seeds_blk_request():
    # flags, counts (1 out, 2 in), lengths, then the header
    write("blk_request", "read", u8(0) + u8(0x21) + u16(16) + u16(512) + u16(1) + blk_hdr(0, 3))
    write("blk_request", "write", u8(0) + u8(0x12) + u16(16) + u16(512) + u16(1) +
          blk_hdr(1, 3) + b"\x5a" * 512)


def seeds_device_options():
    specs = [
        (0, b"path=/dev/null,readonly=on,serial=abc"), (0, b"path=x,readonly=maybe"),
        (1, b"tap=tap0,mac=52:54:00:12:34:56"), (1, b"tap=t,mac=01:00:00:00:00:00"),
        (2, b"src=/dev/urandom"), (2, b"src="), (3, b"free-page-reporting=on,target=256M"),
        (3, b"stats-period=3601"), (4, b"virtio"), (5, b"vfio=0000:00:03.0,bar-mmap=off,rom=on"),
        (5, b"00:1f.7,p2p=on"),
    ]
    for i, (which, s) in enumerate(specs):
        write("device_options", f"spec-{i}", u8(which) + s)


def main():
    if not os.path.isdir("tests/fuzz"):
        sys.exit("mkseeds: run from the top of the tree")
    seeds_uart()
    seeds_msix()
    seeds_pci_config()
    seeds_blk()
    seeds_net()
    seeds_console()
    seeds_rng()
    seeds_balloon()
    seeds_virtio_net()
    seeds_vfio_pci()
    seeds_virtqueue()
    seeds_blk_request()
    seeds_device_options()
    seeds_boot_x86()


if __name__ == "__main__":
    main()
