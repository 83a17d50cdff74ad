#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ptvm against QEMU, side by side (issue 5): `make bench` runs this.

Writes BUILD/bench/results.md (figure, ptvm, QEMU, ratio, how measured), results.tsv (the same,
machine-readable), chart.png (gnuplot) and raw/ (every run's output). Benchmarks never fail on a
time: the exit status is non-zero only when the harness itself could not run (a VMM that does
not start, a guest that fails, an unparsable result) -- and then the row says so too.

    tests/bench/bench.py [--quick] [--build DIR]
                         [--only startup,memory,exits,blk,net,viommu,testhost,passthrough,arm64]

--quick (make bench QUICK=1): few repetitions and small counts, well under two minutes on a
2-core machine, for `make test` to check that the harness still runs and writes its table.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TRACEFS = "/sys/kernel/tracing"
MARKER_PORT = 0x80
MARKER_VALUE = 0x42
KVM_RUN = 0xAE80
# the kit's serial_init() sets DLAB first: its first port write, right after the long-mode
# switch and clearing .bss (a firmware never writes this to COM1 with -nodefaults here)
KIT_FIRST_IO = "pio_write at 0x3fb size 1 count 1 val 0x80 "
QEMU = "qemu-system-x86_64"
NET_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "net_peer.py")
QEMU_MACHINES = {
    "microvm": ["-M", "microvm"],
    "q35": ["-M", "q35"],
}


def log(msg):
    print("bench: " + msg, flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = args.build
        self.out = os.path.join(self.build, "bench")
        self.raw = os.path.join(self.out, "raw")
        os.makedirs(self.raw, exist_ok=True)
        self.ptvm = os.path.join(self.build, "ptvm")
        self.floor = os.path.join(self.out, "kvm_floor")
        self.quick = args.quick
        self.rows = []  # (figure, ptvm, qemu, ratio, how)
        self.chart = []  # (label, ptvm/qemu ratio, lower_is_better)
        self.notes = []
        self.errors = 0
        self.tsc_khz = None
        self.has_qemu = shutil.which(QEMU) is not None

    # ---- helpers ----

    def elf(self, name):
        return os.path.join(self.build, "guest", name + ".elf")

    def row(self, figure, p, q, how, unit="", lower_is_better=True, fmt="%.1f", chart=True):
        """A table row; p and q are numbers or strings (a string says why there is none)."""
        ps = (fmt % p + unit) if isinstance(p, (int, float)) else p
        qs = (fmt % q + unit) if isinstance(q, (int, float)) else q
        ratio = "-"
        if isinstance(p, (int, float)) and isinstance(q, (int, float)) and q > 0:
            ratio = "%.2f" % (p / q)
            if chart:
                self.chart.append((figure, p / q, lower_is_better))
        self.rows.append((figure, ps, qs, ratio, how))

    def fail(self, what):
        """The harness could not measure something: counted, and named in the results."""
        self.errors += 1
        self.notes.append("HARNESS ERROR: " + what)
        log("ERROR: " + what)

    def ptvm_cmd(self, elf, extra=(), memory="128M"):
        return [self.ptvm, "run", "--kernel", elf, "--debug-exit", "--serial", "stdio",
                "--memory", memory] + list(extra)

    def qemu_cmd(self, machine, elf, cmdline="", memory="128M", extra=()):
        return ([QEMU] + QEMU_MACHINES[machine] +
                ["-accel", "kvm", "-m", memory, "-smp", "1", "-kernel", elf,
                 "-append", cmdline, "-display", "none", "-nodefaults", "-serial", "stdio",
                 "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"] + list(extra))

    @staticmethod
    def vmm_ok(vmm, status):
        """ptvm exits 0 on a passing guest; QEMU's isa-debug-exit makes it (0 << 1) | 1."""
        return status == (0 if vmm == "ptvm" else 1)

    def run(self, name, cmd, timeout=120):
        """Runs cmd, output kept in raw/NAME.{out,err}; (status, stdout text, seconds)."""
        t0 = time.monotonic()
        with open(os.path.join(self.raw, name + ".out"), "w") as out, \
                open(os.path.join(self.raw, name + ".err"), "w") as err:
            try:
                st = subprocess.run(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                    timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                st = 124
        secs = time.monotonic() - t0
        with open(os.path.join(self.raw, name + ".out"), errors="replace") as f:
            text = f.read()
        return st, text, secs

    @staticmethod
    def terminate(p):
        """SIGTERM (what lets a VMM or the tap peer write what it has), SIGKILL after 10 s."""
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def measure_tsc(self):
        st, text, _ = self.run("tsc-khz", [self.floor, "--tsc-khz"], timeout=10)
        if st == 0 and text.strip().isdigit():
            self.tsc_khz = int(text.strip())
            log("host TSC: %d kHz" % self.tsc_khz)
        else:
            self.fail("kvm_floor --tsc-khz failed (status %d)" % st)

    # ---- figure 1: start-up, by ftrace ----

    def trace_setup(self):
        """A private ftrace instance with the events the start-up figure reads, or None."""
        if not os.path.isdir(os.path.join(TRACEFS, "instances")):
            subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS],
                           stderr=subprocess.DEVNULL)
        inst = os.path.join(TRACEFS, "instances", "ptvm-bench-%d" % os.getpid())
        try:
            os.mkdir(inst)
        except OSError as e:
            self.notes.append("start-up: no ftrace instance (%s): exec-to-exit wall time only"
                              % e)
            return None
        try:
            self.tw(inst, "trace_clock", "mono")
            self.tw(inst, "buffer_size_kb", "16384")
            self.tw(inst, "options/event-fork", "1")
            # this machine's nested KVM emits no kvm_entry/kvm_exit: the first KVM_RUN
            # ioctl stands for the first guest instruction
            self.tw(inst, "events/syscalls/sys_enter_ioctl/filter", "cmd == 0x%x" % KVM_RUN)
            for ev in ("sched/sched_process_exec", "sched/sched_process_exit",
                       "syscalls/sys_enter_ioctl", "kvm/kvm_pio", "kvm/kvm_mmio",
                       "kvm/kvm_userspace_exit"):
                self.tw(inst, "events/%s/enable" % ev, "1")
        except OSError as e:
            self.notes.append("start-up: ftrace instance not usable (%s)" % e)
            self.trace_teardown(inst)
            return None
        return inst

    @staticmethod
    def tw(inst, path, val):
        with open(os.path.join(inst, path), "w") as f:
            f.write(val)

    @staticmethod
    def trace_teardown(inst):
        try:
            for ev in ("sched", "kvm", "syscalls"):
                Bench.tw(inst, "events/%s/enable" % ev, "0")
            Bench.tw(inst, "events/syscalls/sys_enter_ioctl/filter", "0")
        except OSError:
            pass
        try:
            os.rmdir(inst)
        except OSError:
            pass

    def traced_run(self, inst, name, cmd):
        """One traced VMM run: dict of times (ms after exec) and exit counts."""
        self.tw(inst, "trace", "")
        self.tw(inst, "set_event_pid", "")
        self.tw(inst, "tracing_on", "1")
        # the child puts itself in set_event_pid, then execs the VMM: the exec is traced
        wrap = ["sh", "-c", 'echo $$ > "$0/set_event_pid" && exec "$@"', inst] + cmd
        st, out, secs = self.run(name, wrap)
        t_reaped = time.clock_gettime(time.CLOCK_MONOTONIC)  # the trace's clock ("mono")
        self.tw(inst, "tracing_on", "0")
        with open(os.path.join(inst, "trace")) as f:
            trace = f.read()
        with open(os.path.join(self.raw, name + ".trace"), "w") as f:
            f.write(trace)
        # syscall events print as "sys_ioctl(fd: ..., cmd: ...)" rather than "name: ..."
        ev = re.compile(r"^\s*(.+?)-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+):\s+(\w+)[:(]\s*(.*)$")
        r = {"status": st, "wall": secs * 1000, "uexits": 0}
        t_exec = None
        main_pid = None
        for line in trace.splitlines():
            m = ev.match(line)
            if not m:
                continue
            pid, t, name_, rest = int(m.group(2)), float(m.group(3)), m.group(4), m.group(5)
            if name_ == "sched_process_exec":
                # the wrapper shell's own exec may be seen too: the VMM's is the one
                fn = rest.split("filename=", 1)[-1].split()[0]
                if os.path.basename(fn) == os.path.basename(cmd[0]):
                    t_exec, main_pid = t, pid
                continue
            if t_exec is None:
                continue
            ms = (t - t_exec) * 1000
            if name_ == "sys_ioctl":
                r.setdefault("first_entry", ms)
            elif name_ == "kvm_userspace_exit":
                r["uexits"] += 1
            elif name_ == "kvm_pio":
                if KIT_FIRST_IO in rest + " ":
                    r.setdefault("kernel", ms)
                if ("pio_write at 0x%x " % MARKER_PORT) in rest and \
                        ("val 0x%x " % MARKER_VALUE) in rest + " " and "kernel" in r:
                    r.setdefault("marker", ms)
            elif name_ == "sched_process_exit" and pid == main_pid:
                r["exit_event"] = ms
        if t_exec is not None:
            r["exit"] = (t_reaped - t_exec) * 1000
        return r

    def fig_startup(self):
        elf = self.elf("bench_startup")
        runs = 3 if self.quick else 21
        vmms = [("ptvm", self.ptvm_cmd(elf))]
        if self.has_qemu:
            for m in QEMU_MACHINES:
                vmms.append(("qemu-" + m, self.qemu_cmd(m, elf)))
        inst = self.trace_setup()
        res = {vmm: [] for vmm, _ in vmms}
        broken = set()
        try:
            # round-robin, so that the other load of the machine spreads over all VMMs alike
            for i in range(runs + 1):  # round 0 warms the page cache, not counted
                for vmm, cmd in vmms:
                    if vmm in broken:
                        continue
                    name = "startup-%s-%d" % (vmm, i)
                    if inst:
                        r = self.traced_run(inst, name, cmd)
                    else:
                        st, _, secs = self.run(name, cmd)
                        r = {"status": st, "wall": secs * 1000}
                    if not self.vmm_ok(vmm.split("-")[0], r["status"]):
                        self.fail("start-up: %s exited %d (raw/%s.err)" % (vmm, r["status"],
                                                                          name))
                        broken.add(vmm)
                    elif i:
                        res[vmm].append(r)
        finally:
            if inst:
                self.trace_teardown(inst)
        for vmm, _ in vmms:
            log("start-up %s: %s" % (vmm, self.summary(res[vmm])))
        how_trace = ("median of %d runs (1 warm-up round dropped; the VMMs take turns), 128 MiB, "
                     "guest/bench_startup.elf; "
                     "ftrace (mono clock) in a private instance: sched_process_exec of the VMM "
                     "to the %s" % (runs, "%s"))
        figs = [
            ("first_entry", "start-up: exec to first guest instruction (ms)",
             "first KVM_RUN ioctl of the process (sys_enter_ioctl; this nested KVM emits no "
             "kvm_entry events). For QEMU the first instruction is its firmware's "
             "(SeaBIOS on q35, qboot on microvm)"),
            ("kernel", "start-up: exec to the kit's first port write (ms)",
             "kvm_pio of the kit's serial_init() (0x80 to port 0x3fb), its first I/O: the "
             "PVH entry, long-mode switch and .bss clearing (ring 0, ~1 us an instruction "
             "here) lie before it; for QEMU also the firmware"),
            ("marker", "start-up: exec to guest marker port write (ms)",
             "kvm_pio write of 0x42 to port 0x80, the first thing test_main does after "
             "the kit's boot"),
            ("exit", "start-up: exec to VMM exit (ms)",
             "the parent's waitpid() returning, read on the same clock (CLOCK_MONOTONIC), "
             "after the guest's debug-exit write. Not sched_process_exit: QEMU leaves its VM "
             "fd to the kernel's exit_files(), after that event, while ptvm closes it itself "
             "before; destroying the VM takes ~20-30 ms on this nested KVM either way"),
        ]
        if not inst:
            figs = [("wall", "start-up: exec to VMM exit (ms)", "")]
            how_trace = "median of %d runs: wall time from fork to wait (%s)" % (runs, "%s")
        for key, title, what in figs:
            pv = self.median(res.get("ptvm", []), key)
            for m in QEMU_MACHINES:
                qv = self.median(res.get("qemu-" + m, []), key) if self.has_qemu \
                    else "no %s" % QEMU
                self.row("%s, QEMU %s" % (title, m), pv, qv,
                         (how_trace % what) + ("; QEMU %s -accel kvm -kernel (PVH)" % m),
                         fmt="%.2f")
        for key, title in (("uexits", "start-up: exits to userspace"),):
            if inst:
                pv = self.median(res.get("ptvm", []), key)
                for m in QEMU_MACHINES:
                    qv = self.median(res.get("qemu-" + m, []), key) if self.has_qemu \
                        else "no %s" % QEMU
                    self.row("%s, QEMU %s" % (title, m), pv, qv,
                             "kvm_userspace_exit events in the same traces "
                             "(median); explains the times above", fmt="%.0f", chart=False)

    @staticmethod
    def median(rs, key):
        v = [r[key] for r in rs if key in r]
        if not v:
            return "not seen in the trace" if rs else "no run"
        return statistics.median(v)

    @staticmethod
    def summary(rs):
        keys = ("first_entry", "kernel", "marker", "exit", "wall")
        return ", ".join("%s %.2f ms" % (k, statistics.median([r[k] for r in rs if k in r]))
                         for k in keys if any(k in r for r in rs))

    # ---- figure 2: memory overhead ----

    @staticmethod
    def smaps(pid, ram_kb):
        """(PSS total, RSS total, PSS of the guest RAM mappings) in KiB."""
        tot = {}
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if v.strip().endswith("kB"):
                    tot[k] = int(v.split()[0])
        ram_pss = 0
        cur_size = 0
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                if line.startswith("Size:"):
                    cur_size = int(line.split()[1])
                elif line.startswith("Pss:") and cur_size == ram_kb:
                    ram_pss += int(line.split()[1])
        return tot.get("Pss", 0), tot.get("Rss", 0), ram_pss

    def mem_one(self, vmm, cmd):
        outp = os.path.join(self.raw, "memory-%s.out" % vmm)
        with open(outp, "w") as out, open(outp[:-4] + ".err", "w") as err:
            p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        try:
            t_end = time.monotonic() + 60
            while time.monotonic() < t_end:
                with open(outp, errors="replace") as f:
                    if "bench_startup: ready" in f.read():
                        break
                if p.poll() is not None:
                    self.fail("memory: %s exited %d before the guest was ready (%s)"
                              % (vmm, p.returncode, outp[:-4] + ".err"))
                    return None
                time.sleep(0.05)
            else:
                self.fail("memory: %s guest not ready after 60 s" % vmm)
                return None
            time.sleep(0.5)  # the VMM's threads settle
            return self.smaps(p.pid, 128 * 1024)
        finally:
            self.terminate(p)

    def fig_memory(self):
        elf = self.elf("bench_startup")
        tmp = tempfile.mkdtemp(prefix="mem-", dir=self.out)
        disk = os.path.join(tmp, "disk.img")
        with open(disk, "wb") as f:
            f.truncate(64 << 20)
        tap = "ptvmb%d" % (os.getpid() % 100000)
        have_tap = os.geteuid() == 0 and subprocess.run(
            ["ip", "tuntap", "add", "dev", tap, "mode", "tap"],
            stderr=subprocess.DEVNULL).returncode == 0
        if have_tap:
            subprocess.run(["ip", "link", "set", tap, "up"])
        else:
            self.notes.append("memory: no tap (needs root and /dev/net/tun): measured "
                              "without a net device")
        try:
            pext = ["--disk", "path=" + disk, "--cmdline", "hold=1"]
            if have_tap:
                pext += ["--net", "tap=" + tap]
            res = {"ptvm": self.mem_one("ptvm", self.ptvm_cmd(elf, pext))}
            if self.has_qemu:
                for m in QEMU_MACHINES:
                    sfx = "device" if m == "microvm" else "pci"
                    qext = ["-drive", "if=none,id=d0,format=raw,file=" + disk,
                            "-device", "virtio-blk-%s,drive=d0" % sfx]
                    if have_tap:
                        qext += ["-netdev", "tap,id=n0,script=no,downscript=no,ifname=" + tap,
                                 "-device", "virtio-net-%s,netdev=n0" % sfx]
                    res["qemu-" + m] = self.mem_one(
                        "qemu-" + m, self.qemu_cmd(m, elf, "hold=1", extra=qext))
        finally:
            if have_tap:
                subprocess.run(["ip", "link", "del", tap], stderr=subprocess.DEVNULL)
            shutil.rmtree(tmp, ignore_errors=True)
        for k, v in res.items():
            if v:
                log("memory %s: PSS %d KiB, RSS %d KiB, guest RAM PSS %d KiB" % ((k,) + v))

        def val(k, i):
            v = res.get(k)
            if v is None:
                return "failed" if k in res else "no %s" % QEMU
            return (v[0] - v[2]) / 1024.0 if i == "pss" else (v[1] - v[2]) / 1024.0
        devs = "virtio-blk (64 MiB raw file)" + (" and virtio-net (tap)" if have_tap else "")
        for m in QEMU_MACHINES:
            self.row("memory: VMM PSS minus guest RAM (MiB), QEMU %s" % m, val("ptvm", "pss"),
                     val("qemu-" + m, "pss"),
                     "1 vCPU, 128 MiB, %s, guest/bench_startup.elf hold=1 idling at CPL3; "
                     "/proc/PID/smaps_rollup Pss minus the Pss of the 128 MiB guest RAM "
                     "mapping(s) in /proc/PID/smaps, 0.5 s after the guest said ready" % devs,
                     fmt="%.1f")
            self.row("memory: VMM RSS minus guest RAM (MiB), QEMU %s" % m, val("ptvm", "rss"),
                     val("qemu-" + m, "rss"),
                     "as above with Rss (shared libraries counted whole)", fmt="%.1f",
                     chart=False)

    # ---- figure 3: VM-exit round trip ----

    def guest_cycles(self, text):
        m = re.search(r"bench_exit: (\d+) .* writes, (\d+) cycles", text)
        return (int(m.group(1)), int(m.group(2))) if m else None

    def fig_exits(self):
        if not self.tsc_khz:
            self.fail("exits: no host TSC frequency, cannot turn guest cycles into ns")
            return
        elf = self.elf("bench_exit")
        rounds = 2 if self.quick else 3
        # the 10^6 writes per VMM, split over the rounds; fewer for the slow port form
        variants = [("ring-3 MMIO write", "", 2000 if self.quick else 1000000 // rounds),
                    ("ring-0 port write", " port=1", 300 if self.quick else 20000)]
        for what, extra, n in variants:
            kind = "port" if extra else "mmio"
            cmdline = "n=%d%s" % (n, extra)
            runs = [("ptvm", self.ptvm_cmd(elf, ["--cmdline", cmdline]))]
            if self.has_qemu:
                runs.append(("qemu-q35", self.qemu_cmd("q35", elf, cmdline)))
                # microvm has no PCI (no ECAM) by default: only the port form runs there
                if extra:
                    runs.append(("qemu-microvm", self.qemu_cmd("microvm", elf, cmdline)))
            runs.append(("floor", [self.floor] + (["--port"] if extra else []) + [str(n)]))
            res = {vmm: [] for vmm, _ in runs}
            for i in range(rounds):  # the VMMs take turns: the machine's other load is shared
                for vmm, cmd in runs:
                    name = "exits-%s-%s-%d" % (vmm, kind, i)
                    st, out, _ = self.run(name, cmd, timeout=900)
                    if vmm == "floor":
                        m = re.search(r"(\d+) ns per exit", out)
                        if st == 0 and m:
                            res[vmm].append(float(m.group(1)))
                        else:
                            self.fail("exits: kvm_floor failed (raw/%s.*)" % name)
                        continue
                    c = self.guest_cycles(out)
                    if not self.vmm_ok(vmm.split("-")[0], st) or not c:
                        self.fail("exits: %s (%s) exited %d without a result (raw/%s.*)"
                                  % (vmm, what, st, name))
                        continue
                    res[vmm].append(c[1] / c[0] * 1e6 / self.tsc_khz)
            med = {k: statistics.median(v) for k, v in res.items() if v}
            log("exits %s: %s" % (what, ", ".join(
                "%s %.0f ns (%s)" % (k, med[k], "/".join("%.0f" % x for x in res[k]))
                for k in med)))
            how = ("guest/bench_exit.elf %s: %d writes to %s per run, timed by the guest's "
                   "rdtsc (host TSC %d kHz); median of %d runs, the VMMs taking turns" %
                   (cmdline, n, "the host bridge's read-only vendor ID in ECAM (00:00.0 "
                    "offset 0, a no-op in both VMMs), from CPL3" if not extra else
                    "port 0x80 from CPL0 (ring 0 runs ~1 us an instruction here: the loop's "
                    "own 3 instructions are in the figure)", self.tsc_khz, rounds))
            qemus = ["q35"] + (["microvm"] if extra else [])
            for m in qemus:
                self.row("VM exit round trip, %s (ns), QEMU %s" % (what, m),
                         med.get("ptvm", "failed"),
                         med.get("qemu-" + m, "failed" if self.has_qemu else "no " + QEMU),
                         how + "; QEMU %s -accel kvm" % m, fmt="%.0f")
            self.row("VM exit round trip, %s: ptvm vs the bare KVM_RUN floor (ns)" % what,
                     med.get("ptvm", "failed"), med.get("floor", "failed"),
                     "QEMU column: tests/bench/kvm_floor.c %s, the same writes from an "
                     "11-byte guest entered directly at CPL%d (no firmware, no IRQ chip, no "
                     "CPUID), timed by the host around its KVM_RUN loop; median of %d runs"
                     % ("--port " + str(n) if extra else str(n), 0 if extra else 3, rounds),
                     fmt="%.0f", chart=False)

    # ---- figure 8: the virtio-iommu's request path ----

    def fig_viommu(self):
        """MAP+UNMAP round trips per second through a virtio-iommu, ptvm vs QEMU q35."""
        if not self.tsc_khz:
            self.fail("viommu: no host TSC frequency")
            return
        elf = self.elf("bench_viommu")
        n = 200 if self.quick else 2000
        rounds = 3 if self.quick else 9
        cmdline = "n=%d" % n
        runs = [("ptvm", self.ptvm_cmd(elf, ["--iommu", "virtio", "--rng",
                                             "--cmdline", cmdline]))]
        if self.has_qemu:
            runs.append(("qemu-q35", self.qemu_cmd(
                "q35", elf, cmdline,
                extra=["-device", "virtio-iommu-pci",
                       "-device", "virtio-rng-pci,disable-legacy=on"])))
        res = {vmm: [] for vmm, _ in runs}
        for i in range(rounds):  # the VMMs take turns: the machine's other load is shared
            for vmm, cmd in runs:
                name = "viommu-%s-%d" % (vmm, i)
                st, out, _ = self.run(name, cmd, timeout=300)
                m = re.search(r"bench_viommu: (\d+) map\+unmap round trips, (\d+) cycles", out)
                if not self.vmm_ok(vmm.split("-")[0], st) or not m:
                    self.fail("viommu: %s exited %d without a result (raw/%s.*)"
                              % (vmm, st, name))
                    continue
                res[vmm].append(int(m.group(1)) / (int(m.group(2)) / (self.tsc_khz * 1e3)))
        med = {k: statistics.median(v) for k, v in res.items() if v}
        log("viommu: %s" % ", ".join("%s %.0f/s (%s)" % (k, med[k], "/".join(
            "%.0f" % x for x in res[k])) for k in med))
        self.row("virtio-iommu MAP+UNMAP round trips per second (higher is better)",
                 med.get("ptvm", "failed"),
                 med.get("qemu-q35", "failed" if self.has_qemu else "no " + QEMU),
                 "guest/bench_viommu.elf %s: a 4 KiB MAP then its UNMAP, each sent, kicked and "
                 "waited for alone (as Linux's strict mode), from CPL3, endpoint a virtio-rng; "
                 "guest rdtsc (host TSC %d kHz); median of %d runs, the VMMs taking turns; "
                 "QEMU q35 -accel kvm -device virtio-iommu-pci" % (cmdline, self.tsc_khz, rounds),
                 lower_is_better=False, fmt="%.0f")

    # ---- figure 5: virtio-blk ----

    def host_read_mbs(self, path, direct):
        cmd = ["dd", "if=" + path, "of=/dev/null", "bs=64k"] + (["iflag=direct"] if direct
                                                                  else [])
        t0 = time.monotonic()
        st = subprocess.run(cmd, capture_output=True)
        secs = time.monotonic() - t0
        return os.path.getsize(path) / secs / 1e6 if st.returncode == 0 else None

    def fig_blk(self):
        if not self.tsc_khz:
            self.fail("blk: no host TSC frequency")
            return
        elf = self.elf("bench_blk")
        size_mb = 32 if self.quick else 256
        mb = 8 if self.quick else 128
        tmp = tempfile.mkdtemp(prefix="blk-", dir=self.out)
        disk = os.path.join(tmp, "disk.img")
        chunk = os.urandom(1 << 20)
        with open(disk, "wb") as f:
            for _ in range(size_mb):
                f.write(chunk)
        host_pc = self.host_read_mbs(disk, False)
        host_pc = self.host_read_mbs(disk, False)  # the second read is the cached one
        host_dio = self.host_read_mbs(disk, True)
        cmdline = "mb=%d write=1" % mb
        runs = [("ptvm", self.ptvm_cmd(elf, ["--disk", "path=" + disk, "--cmdline", cmdline]))]
        if self.has_qemu:
            for cache, tag in (("writeback", "qemu-q35"), ("none", "qemu-q35-direct")):
                runs.append((tag, self.qemu_cmd("q35", elf, cmdline, extra=[
                    "-drive", "if=none,id=d0,format=raw,cache=%s,file=%s" % (cache, disk),
                    "-device", "virtio-blk-pci,drive=d0,disable-legacy=on"])))
        rounds = 1 if self.quick else 3
        res = {}
        try:
            for i in range(rounds):
                for vmm, cmd in runs:
                    name = "blk-%s-%d" % (vmm, i)
                    st, out, _ = self.run(name, cmd, timeout=900)
                    got = re.findall(r"bench_blk: (\w+) (\d+) (\d+) (\d+)", out)
                    if not self.vmm_ok(vmm.split("-")[0], st) or not got:
                        self.fail("blk: %s exited %d without results (raw/%s.*)" % (vmm, st,
                                                                                   name))
                        continue
                    for phase, size, reqs, cycles in got:
                        secs = int(cycles) / (self.tsc_khz * 1000.0)
                        res.setdefault((vmm, phase), []).append(
                            (int(size) * int(reqs) / secs / 1e6, int(reqs) / secs))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

        def med(vmm, phase, i):
            v = res.get((vmm, phase))
            return statistics.median(x[i] for x in v) if v else "failed"
        ceiling = "host ceiling (dd bs=64k of the same file): %s MB/s from the page cache, " \
            "%s MB/s O_DIRECT" % ("%.0f" % host_pc if host_pc else "?",
                                  "%.0f" % host_dio if host_dio else "?")
        log("blk: " + ceiling + "; " + ", ".join(
            "%s %s %.1f MB/s" % (k[0], k[1], statistics.median(x[0] for x in v))
            for k, v in sorted(res.items())))
        how = ("guest/bench_blk.elf %s on a %d MiB file of random data: queue depth 1, "
               "polled at CPL3, timed by the guest's rdtsc; median of %d; %s; QEMU q35 "
               "virtio-blk-pci, -drive cache=%%s" % (cmdline, size_mb, rounds, ceiling))
        for phase, title, i, unit, fmt in (
                ("seqread", "virtio-blk 64 KiB sequential read (MB/s)", 0, "", "%.1f"),
                ("seqwrite", "virtio-blk 64 KiB sequential write (MB/s)", 0, "", "%.1f"),
                ("randread", "virtio-blk 4 KiB random read (requests/s)", 1, "", "%.0f")):
            self.row(title + ", page cache", med("ptvm", phase, i), med("qemu-q35", phase, i),
                     how % "writeback (ptvm: buffered, its only mode)", fmt=fmt,
                     lower_is_better=False)
            self.row(title + ", O_DIRECT", "no O_DIRECT option in ptvm --disk",
                     med("qemu-q35-direct", phase, i), how % "none (O_DIRECT)", fmt=fmt,
                     lower_is_better=False)

    # ---- figure 6: virtio-net ----

    def tap_create(self, name):
        """A tap named @name, up, without IPv6 chatter; False (and a note) when impossible."""
        if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
            return False
        if subprocess.run(["ip", "tuntap", "add", "dev", name, "mode", "tap"],
                          stderr=subprocess.DEVNULL).returncode:
            return False
        subprocess.run(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % name],
                       stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "link", "set", name, "up"])
        return True

    def net_one(self, name, vmm, cmd_for, tap):
        """One bench_net run on a fresh peer: ({(dir, size): (frames, cycles, lost)}, peer)."""
        nonce = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
        ready = os.path.join(self.raw, name + ".ready")
        result = os.path.join(self.raw, name + ".peer")
        for f in (ready, result):
            if os.path.exists(f):
                os.unlink(f)
        peer = subprocess.Popen([sys.executable, NET_PEER, tap, str(nonce), ready, result],
                                stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(self.raw, name + ".peer.err"), "w"))
        try:
            t_end = time.monotonic() + 10
            while not os.path.exists(ready) and time.monotonic() < t_end:
                time.sleep(0.05)
            st, out, _ = self.run(name, cmd_for(nonce), timeout=600)
        finally:
            self.terminate(peer)
        got = {(d, int(sz)): (int(n), int(c), int(lost)) for d, sz, n, c, lost in
               re.findall(r"bench_net: (tx|rx) (\d+) (\d+) (\d+) (\d+)", out)}
        if not self.vmm_ok(vmm.split("-")[0], st) or not got:
            self.fail("net: %s exited %d without results (raw/%s.*)" % (vmm, st, name))
            return None, None
        pr = {}
        if os.path.exists(result):
            with open(result) as f:
                for line in f:
                    w = line.split()
                    if w[0] == "tx":
                        pr[("tx", int(w[1]))] = int(w[2])
                    elif w[0] == "rx":
                        pr[("rx", int(w[2]))] = (int(w[3]), float(w[4]))
        return got, pr

    def fig_net(self):
        if not self.tsc_khz:
            self.fail("net: no host TSC frequency")
            return
        elf = self.elf("bench_net")
        tap = "ptvmbn%d" % (os.getpid() % 10000)
        if not self.tap_create(tap):
            for t in ("guest to tap", "tap to guest"):
                self.row("virtio-net %s" % t, "no tap", "no tap",
                         "needs root, /dev/net/tun and ip (iproute2)", chart=False)
            return
        n = 2000 if self.quick else 50000
        sizes = (60, 1514)
        cmdline = "n=%d sizes=%s" % (n, ",".join(map(str, sizes)))
        runs = [("ptvm", lambda nonce: self.ptvm_cmd(
            elf, ["--net", "tap=" + tap, "--cmdline", "nonce=%d %s" % (nonce, cmdline)]))]
        if self.has_qemu:
            runs.append(("qemu-q35", lambda nonce: self.qemu_cmd(
                "q35", elf, "nonce=%d %s" % (nonce, cmdline), extra=[
                    "-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no,vhost=off" % tap,
                    "-device", "virtio-net-pci,netdev=n0,disable-legacy=on,romfile="])))
        rounds = 1 if self.quick else 3
        res = {}
        peer_seen = {}
        try:
            for i in range(rounds):
                for vmm, cmd_for in runs:
                    got, pr = self.net_one("net-%s-%d" % (vmm, i), vmm, cmd_for, tap)
                    if not got:
                        continue
                    for (d, size), (frames, cycles, lost) in got.items():
                        secs = cycles / (self.tsc_khz * 1000.0)
                        if secs <= 0:
                            continue
                        res.setdefault((vmm, d, size), []).append(
                            (frames / secs, frames * size / secs / 1e6, lost))
                        p = pr.get((d, size))
                        if d == "tx" and p is not None:
                            peer_seen.setdefault((vmm, size), []).append(p)
                        elif d == "rx" and p:
                            peer_seen.setdefault((vmm, "send", size), []).append(
                                p[0] / p[1] if p[1] > 0 else 0)
        finally:
            subprocess.run(["ip", "link", "del", tap], stderr=subprocess.DEVNULL)

        def med(vmm, d, size, i):
            v = res.get((vmm, d, size))
            return statistics.median(x[i] for x in v) if v else "failed"
        log("net: " + ", ".join("%s %s %d: %.0f pps %.1f MB/s lost %d" % (
            k + (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v),
                 max(x[2] for x in v))) for k, v in sorted(res.items())))
        send = {vmm: statistics.median(peer_seen[(vmm, "send", 60)])
                for vmm, _ in runs if peer_seen.get((vmm, "send", 60))}
        seen = "; ".join("%s: the peer counted %s of the %d frames sent" % (
            vmm, "/".join(str(min(peer_seen.get((vmm, sz), [0]))) for sz in sizes), n)
            for vmm, _ in runs)
        how = ("guest/bench_net.elf %s: polled at CPL3, no interrupts, EVENT_IDX, 256-entry "
               "rings, timed by the guest's rdtsc; the tap peer tests/bench/net_peer.py "
               "(python3, AF_PACKET) %%s; median of %d; QEMU q35 virtio-net-pci, "
               "-netdev tap,vhost=off" % (cmdline, rounds))
        how_tx = how % ("counts the frames (%s); from the first add to the last used "
                        "element" % seen)
        lost = {vmm: max([x[2] for k, v in res.items() if k[0] == vmm and k[1] == "rx"
                          for x in v] or [0]) for vmm, _ in runs}
        how_rx = how % ("sends n frames as fast as one python send() loop goes (%s frames/s "
                        "measured at 60 bytes: the ceiling of this direction), from the first "
                        "frame in the used ring to the last; frames lost (tap queue full): %s" % (
                            "/".join("%s %.0f" % kv for kv in send.items()) or "?",
                            ", ".join("%s %d" % kv for kv in lost.items())))
        for d, title, how_d in (("tx", "guest to tap", how_tx), ("rx", "tap to guest", how_rx)):
            self.row("virtio-net %s, 60-byte frames (packets/s)" % title,
                     med("ptvm", d, 60, 0), med("qemu-q35", d, 60, 0)
                     if self.has_qemu else "no " + QEMU, how_d, fmt="%.0f",
                     lower_is_better=False)
            self.row("virtio-net %s, 1514-byte frames (MB/s)" % title,
                     med("ptvm", d, 1514, 1), med("qemu-q35", d, 1514, 1)
                     if self.has_qemu else "no " + QEMU, how_d, fmt="%.1f",
                     lower_is_better=False)

    # ---- figures 4 and 7: inside the test host ----

    QEMU_FIRMWARE = ("/usr/share/qemu/qboot.rom", "/usr/share/qemu/bios-microvm.bin",
                     "/usr/share/seabios/bios-256k.bin", "/usr/share/qemu/linuxboot_dma.bin",
                     "/usr/share/qemu/linuxboot.bin", "/usr/share/qemu/pvh.bin",
                     "/usr/share/qemu/kvmvapic.bin")

    def qemu_extra_files(self, stage):
        """mkhost.sh EXTRA_FILES carrying QEMU, its libraries and firmware; None when absent."""
        qemu = shutil.which(QEMU)
        if not qemu:
            return None
        fw = os.path.join(stage, "qemu-share")
        os.makedirs(fw, exist_ok=True)
        for f in self.QEMU_FIRMWARE:
            if os.path.exists(f):
                shutil.copy(f, fw)
        out = subprocess.run(["ldd", qemu], capture_output=True, text=True).stdout
        libs = sorted(set(re.findall(r"(/\S+\.so\S*)", out)))
        return " ".join(["%s=/bin/%s" % (qemu, QEMU), fw + "=/usr/share/qemu"] +
                        ["%s=%s" % (lib, lib) for lib in libs])

    def testhost_image(self):
        """The test host's image with QEMU in it, in a private build dir (once per run):
        (build dir, QEMU carried, image MB), or None after a harness error."""
        if hasattr(self, "_th"):
            return self._th
        self._th = None
        log("test host: building its image (make testhost-image), then QEMU into a copy")
        st = subprocess.run(["make", "-s", "BUILD=" + self.build, "TESTHOST_SUITES=viommu",
                             "testhost-image"],
                            stdout=open(os.path.join(self.raw, "testhost-make.out"), "w"),
                            stderr=subprocess.STDOUT)
        if st.returncode:
            self.fail("testhost: make testhost-image failed (raw/testhost-make.out)")
            return None
        # a private build dir: the shared image stays what make test-testhost builds
        thb = os.path.join(self.out, "th")
        os.makedirs(os.path.join(thb, "testhost"), exist_ok=True)
        for sub in ("kernel", "pt"):
            # the kernel, and the passthrough devices' backing files (big, sparse)
            link = os.path.join(thb, "testhost", sub)
            os.makedirs(os.path.join(self.build, "testhost", sub), exist_ok=True)
            if not os.path.islink(link):
                os.symlink(os.path.abspath(os.path.join(self.build, "testhost", sub)), link)
        stage = tempfile.mkdtemp(prefix="thq-", dir=self.out)
        extra = self.qemu_extra_files(stage)
        # the viommu suite's Debian 13 guest (testhost.mk built it above)
        trixie = ("%s/testhost/kernel-trixie/bzImage=/guest/linux-trixie/bzImage "
                  "%s/guest/linux-trixie-initramfs.cpio.gz=/guest/linux-trixie/initramfs.cpio.gz"
                  % (self.build, self.build))
        env = dict(os.environ, BUILD=self.build, EXTRA_FILES=(extra or "") + " " + trixie)
        img = os.path.join(thb, "testhost", "host-initramfs.cpio")
        st = subprocess.run(["tests/testhost/mkhost.sh", img], env=env,
                            stdout=open(os.path.join(self.raw, "testhost-mkhost.out"), "w"),
                            stderr=subprocess.STDOUT)
        shutil.rmtree(stage, ignore_errors=True)
        if st.returncode:
            self.fail("testhost: mkhost.sh with QEMU failed (raw/testhost-mkhost.out)")
            return None
        self._th = (thb, extra is not None, os.path.getsize(img) / 1e6)
        return self._th

    def testhost_run(self, name, suites, mem, timeout):
        """One boot of the test host running suites (TH_BENCH=1): their PASS lines by test."""
        thb = self._th[0]
        log("test host: image %.0f MB with QEMU, %s RAM; running %s" % (
            self._th[2], mem, " ".join(suites)))
        # the test host's own QEMU (fetch-qemu.sh, through make testhost-image) stays in the
        # main build dir, not in the private one
        qemu = os.path.abspath(os.path.join(self.build, "qemu", "root", "usr"))
        env = dict(os.environ, BUILD=thb, TH_MEM=mem,
                   TH_APPEND="TH_BENCH=1 TH_BENCH_REPS=%d" % 3)
        env.setdefault("TH_QEMU", os.path.join(qemu, "bin", "qemu-system-x86_64"))
        env.setdefault("TH_QEMU_DATA", os.path.join(qemu, "share", "qemu"))
        t0 = time.monotonic()
        out = os.path.join(self.raw, name + ".out")
        with open(out, "w") as f:
            st = subprocess.run(["tests/testhost/run.sh", "--timeout", str(timeout)] + suites,
                                env=env, stdout=f, stderr=subprocess.STDOUT)
        with open(out, errors="replace") as f:
            text = f.read()
        log("test host: done in %.0f s (status %d)" % (time.monotonic() - t0, st.returncode))
        if st.returncode:
            self.fail("testhost: run.sh exited %d: a suite failed or hung (raw/%s.out, "
                      "%s/testhost/logs/latest.log)" % (st.returncode, name, thb))
        for m in re.findall(r"^.*FAIL ((?:bench|vfio|viommu)\S*): .*$", text, re.M):
            self.notes.append("test host: FAIL %s (raw/%s.out)" % (m, name))
        return dict(re.findall(r"^\s*(?:\[[ \d.]+\] )?PASS (\S+) \((.*)\)\s*$", text, re.M))

    def fig_testhost(self):
        """Linux boot (figure 4), passthrough with edu (figure 7) and the vIOMMU: one boot of the
        test host."""
        if self.quick:
            for fig in ("Linux boot to init / to power-off (vmlinux, bzImage; 1 and 2 vCPUs)",
                        "passthrough: DMA map time, exits per MMIO access (BAR mmap'd vs "
                        "trapped)"):
                self.row(fig, "full run only", "full run only",
                         "measured inside the test host by `make bench` (about 15 min under "
                         "QEMU TCG), not by the quick run", chart=False)
            return
        if not self.testhost_image():
            return
        passes = self.testhost_run("testhost", ["bench_boot", "vfio", "vfio_host", "viommu"],
                                   "1536M", 2100)
        self.boot_rows(passes, self._th[1], self._th[2])
        self.passthrough_rows(passes)
        self.viommu_rows(passes)

    def viommu_rows(self, passes):
        """The NVMe behind the vIOMMU (suite viommu, TH_BENCH=1): each mode against none."""
        res = {}
        for mode in ("none", "strict", "lazy", "passthrough"):
            m = re.search(r"randread4k_iops=(\d+) seqread1m_mibps=([\d.]+)",
                          passes.get("viommu-nvme-bench-" + mode, ""))
            if m:
                res[mode] = (float(m.group(1)), float(m.group(2)))
        how = ("inside the test host: its QEMU NVMe passed through to a Debian 13 guest under "
               "ptvm (256 MiB, 1 vCPU), guest/linux/blkbench.c O_DIRECT at queue depth 1, 5 s "
               "each; the QEMU column is the same guest and device without a vIOMMU (QEMU's "
               "virtio-iommu with vfio-pci is not run inside the test host)")
        for mode in ("strict", "lazy", "passthrough"):
            for i, (what, unit) in enumerate((("4 KiB random-read IOPS", ""),
                                              ("1 MiB sequential read MiB/s", ""))):
                p = res[mode][i] if mode in res else "failed"
                q = res["none"][i] if "none" in res else "failed"
                self.row("NVMe %s behind the vIOMMU, %s (vs no vIOMMU; higher is better)"
                         % (what, mode), p, q, how + "; iommu.%s" % {
                             "strict": "strict=1", "lazy": "strict=0",
                             "passthrough": "passthrough=1"}[mode],
                         unit=unit, lower_is_better=False, fmt="%.0f" if i == 0 else "%.1f")

    def fig_passthrough(self):
        """Passthrough at scale (issue 9): start-up with an NVMe, NVMe I/O, IOMMU cost."""
        if self.quick:
            self.row("passthrough NVMe: start-up with/without the device (1, 2 GiB), IOPS and "
                     "MB/s passed through / virtio-blk / the test host, intel_iommu=on vs "
                     "iommu=pt", "full run only", "full run only",
                     "measured inside the test host by `make bench` (suite bench_pt, about "
                     "12 min under QEMU TCG), not by the quick run", chart=False)
            return
        if not self.testhost_image():
            return
        # a 2 GiB guest is pinned whole for VFIO: the test host needs room for it and QEMU
        passes = self.testhost_run("passthrough", ["bench_pt"], "3G", 1800)
        self.pt_start_rows(passes)
        self.pt_io_rows(passes)

    def pt_start_rows(self, passes):
        def get(vmm, mem, dev):
            m = re.match(r"first ([\d.-]+) ms, init ([\d.]+) ms, exit ([\d.]+) ms, "
                         r"map ([\d.-]*) ms(?:, bus-master wait ([\d.-]*) ms)?",
                         passes.get("bench-pt-start-%s-%dM-%s" % (vmm, mem, dev), ""))
            if not m:
                return None
            return [float(x) if x not in (None, "", "-") else None for x in m.groups()]
        how = ("inside the test host (QEMU TCG q35, intel-iommu, nested KVM; 3 GiB), suite "
               "tests/testhost/suites/bench_pt.sh: the Debian cloud kernel with guest/linux's "
               "image, 1 vCPU, %d MiB, %s; median of 3, the VMMs, sizes and devices taking "
               "turns; %s; QEMU q35 -accel kvm -cpu host -nodefaults%s, carried into the test "
               "host as for the Linux boot figure")
        whats = ((0, "exec to first guest instruction (ms)",
                  "ms from the VMM's exec (sched_process_exec) to the first kvm:kvm_entry of its "
                  "process (ftrace in the test host, trace clock mono); QEMU's first "
                  "instruction is SeaBIOS's"),
                 (1, "exec to guest init (ms)",
                  "ms from the VMM's exec to the guest init's PTVM-GUEST-INIT line on the "
                  "serial console (stamped with the test host's uptime)"))
        missing = "failed (raw/passthrough.out)" if self._th[1] else "no QEMU in the image"
        for mem in (1024, 2048):
            for dev, dname, qdev in (("nvme", "the NVMe passed through", " -device vfio-pci"),
                                     ("none", "no device", "")):
                p, q = get("ptvm", mem, dev), get("qemu", mem, dev)
                for i, title, what in whats:
                    pv = p[i] if p and p[i] is not None else "failed (raw/passthrough.out)"
                    qv = q[i] if q and q[i] is not None else missing
                    self.row("passthrough start-up: %s, %d GiB, %s" % (title, mem // 1024, dname),
                             pv, qv, how % (mem, dname, what, qdev), fmt="%.0f")
            p, n = get("ptvm", mem, "nvme"), get("ptvm", mem, "none")
            for i, title, what in whats:
                if p and n and p[i] is not None and n[i] is not None:
                    self.row("passthrough start-up goal (ptvm with / without the NVMe, at most "
                             "1.2): %s, %d GiB" % (title, mem // 1024), p[i], n[i],
                             "QEMU column: the same ptvm VM without the device. " +
                             how % (mem, "with and without the NVMe", what, ""), fmt="%.0f",
                             chart=False)
            self.row("passthrough: ptvm DMA-map time of %d GiB guest RAM, in the background "
                     "while the guest boots (ms)" % (mem // 1024),
                     p[3] if p and p[3] is not None else "not logged", "-",
                     "ptvm's info line 'container0:   mapped in the background: all in place "
                     "T ms after it began' in the NVMe runs above (median); QEMU pins the same "
                     "before its first instruction", fmt="%.0f", chart=False)
            f = get("ptvmpf2", mem, "nvme")
            for i, title in ((3, "DMA-map time (ms)"), (1, "exec to guest init (ms)")):
                self.row("passthrough: ptvm with prefault-threads=2 / auto, %d GiB, the NVMe: %s"
                         % (mem // 1024, title),
                         f[i] if f and f[i] is not None else "failed (raw/passthrough.out)",
                         p[i] if p and p[i] is not None else "-",
                         "QEMU column: ptvm with the default (auto: the test host's CPUs less "
                         "the guest's vCPU; none with TH_SMP=1). --memory ...,prefault-threads=2: "
                         "two threads fault guest RAM in (MADV_POPULATE_WRITE) before "
                         "VFIO_IOMMU_MAP_DMA pins it. " + how % (mem, "the NVMe passed through",
                                                                 "median", ""),
                         fmt="%.0f", chart=False)
            self.row("passthrough goal (at most 0.1): the guest's wait at bus-master enable / "
                     "the DMA-map time, %d GiB" % (mem // 1024),
                     p[4] if p and p[4] is not None else "not logged",
                     p[3] if p and p[3] is not None else "-",
                     "ptvm column: ms the guest's bus-master enable waited for the mappings "
                     "('devices waited for it at bus-master enable N time(s), W ms in all'); "
                     "QEMU column: the map time above", fmt="%.1f", chart=False)

    def pt_io_rows(self, passes):
        def get(where):
            t = passes.get("bench-pt-io-" + where, "")
            r = re.search(r"randread iops=([\d.]+)", t)
            q = re.search(r"seqread mbps=([\d.]+)", t)
            return (float(r.group(1)) if r else None, float(q.group(1)) if q else None)
        how = ("inside the test host (QEMU TCG q35, intel-iommu; the NVMe is QEMU's nvme on a "
               "raw file), tests/testhost/ptio.c io: O_DIRECT, one request at a time, 5 s, "
               "in the first 256 MiB (random data written by the test host); median of 3 "
               "rounds, the configurations taking turns; %s")
        fail = "failed (raw/passthrough.out)"
        qmiss = fail if self._th[1] else "no QEMU in the image"
        for i, title, fmt in ((0, "NVMe 4 KiB random read (IOPS)", "%.0f"),
                              (1, "NVMe 1 MiB sequential read (MB/s)", "%.1f")):
            for p, q, what, desc in (
                    ("ptvm-pt", "qemu-pt", "passed through",
                     "the guest's nvme driver (512 MiB, 1 vCPU); QEMU q35 -device vfio-pci"),
                    ("ptvm-virtio", "qemu-virtio", "virtio-blk on the test host's /dev/nvme0n1",
                     "the guest's virtio-blk; ptvm --disk path=/dev/nvme0n1 (buffered, its "
                     "only mode), QEMU -drive cache=writeback, so both go through the test "
                     "host's page cache (dropped before each boot)")):
                pv, qv = get(p)[i], get(q)[i]
                self.row("%s, %s" % (title, what), pv if pv is not None else fail,
                         qv if qv is not None else qmiss, how % desc, fmt=fmt,
                         lower_is_better=False)
            pv, hv = get("ptvm-pt")[i], get("host-dma")[i]
            self.row("%s: ptvm passthrough vs the test host's own nvme driver" % title,
                     pv if pv is not None else fail, hv if hv is not None else fail,
                     how % "QEMU column: the test host itself reading its NVMe (IOMMU group "
                     "default domain DMA, as intel_iommu=on booted it)", fmt=fmt, chart=False)
            for t, tname in (("host-dma", "DMA (intel_iommu=on as booted: strict, the "
                              "emulated IOMMU has caching mode)"),
                             ("host-dma-fq", "DMA-FQ (lazy invalidation)")):
                pv, qv = get(t)[i], get("host-identity")[i]
                if pv is None and t == "host-dma-fq":
                    continue  # the kernel did not allow it here: said in raw/passthrough.out
                self.row("%s, the test host's own driver: IOMMU %s vs identity (iommu=pt)"
                         % (title, tname.split(" (")[0]), pv if pv is not None else fail,
                         qv if qv is not None else fail,
                         how % ("ptvm column: the NVMe's IOMMU group with default domain %s; "
                                "QEMU column: the same group switched to identity through "
                                "/sys/kernel/iommu_groups/N/type (what iommu=pt gives every "
                                "device: no DMA translation), nvme rebound in between; ratio "
                                "below 1 is what DMA protection costs" % tname), fmt=fmt,
                         chart=False)

    def boot_rows(self, passes, have_qemu, mb):
        def times(vmm, k, c):
            m = re.match(r"init ([\d.]+) s, exit ([\d.]+) s", passes.get(
                "bench-boot-%s-%s-%dcpu" % (vmm, k, c), ""))
            return (float(m.group(1)), float(m.group(2))) if m else None
        how = ("inside the test host (QEMU TCG q35 + nested KVM at full speed, 2 vCPUs, "
               "1.5 GiB), suite tests/testhost/suites/bench_boot.sh: Debian cloud kernel "
               "%s, guest/linux busybox initrd, 512 MiB, \"console=ttyS0 panic=-1 quiet "
               "ptvm.test=1\" (the init runs its checks, then poweroff -f); seconds from the "
               "VMM's exec to the init's PTVM-GUEST-INIT line / to the VMM's exit; median of "
               "3, the VMMs taking turns; QEMU %s -accel kvm -cpu host -nodefaults, carried "
               "into the test host's image (%.0f MB with it) with its libraries and firmware")
        for k, kname in (("vmlinux", "vmlinux (PVH entry in both VMMs)"),
                         ("bzimage", "bzImage")):
            for c in (1, 2):
                p = times("ptvm", k, c)
                for mach in ("microvm", "q35"):
                    q = times("qemu-" + mach, k, c)
                    qmiss = "failed (raw/testhost.out)" if have_qemu else "no QEMU in the image"
                    for i, what in ((0, "to init"), (1, "to power-off")):
                        self.row("Linux boot %s (s), %s, %d vCPU, QEMU %s" % (
                            what, "vmlinux" if k == "vmlinux" else "bzImage", c, mach),
                            p[i] if p else "failed (raw/testhost.out)",
                            q[i] if q else qmiss,
                            how % (kname, mach, mb), fmt="%.2f")

    def passthrough_rows(self, passes):
        noq = "no QEMU inside the test host for passthrough"
        how = ("inside the test host (QEMU TCG q35, intel-iommu, two edu devices bound to "
               "vfio-pci), ptvm --device vfio=BDF,bar-mmap=%s; %s")
        for mode, title in (("on", "BAR mmap'd"), ("off", "BAR trapped")):
            m = re.search(r"([\d.]+) exits/op, (\d+) TSC cycles/op",
                          passes.get("vfio-edu_id-mmap-" + mode, ""))
            for g, what, desc, fmt in (
                    (1, "exits", "tests/testhost/suites/vfio.sh: guest/edu_id's 1000 liveness "
                     "round trips (a write and a read of BAR0 each); ptvm's own count of "
                     "trapped BAR0 accesses (--log-level info) over the round trips", "%.2f"),
                    (2, "TSC cycles", "the same run, timed by the guest's rdtsc; the edu "
                     "device itself is emulated by QEMU TCG, so the mmap'd figure is TCG's MMIO "
                     "path, the trapped one adds two exits to ptvm", "%.0f")):
                self.row("passthrough: %s per edu BAR0 write+read, %s" % (what, title),
                         float(m.group(g)) if m else "failed", noq, how % (mode, desc),
                         fmt=fmt, chart=False)
            m = re.search(r"([\d.]+) exits/DMA", passes.get("vfio-edu_dma-mmap-" + mode, ""))
            self.row("passthrough: exits per edu DMA, %s" % title,
                     float(m.group(1)) if m else "failed", noq,
                     how % (mode, "guest/edu_dma: 12 DMAs (6 sizes, both directions), each "
                            "4 register writes and polls of the command register"),
                     fmt="%.1f", chart=False)
        mt = passes.get("vfio-host-map-time", "")
        for key, title in (("4k", "4 KiB pages"), ("4k prefaulted", "4 KiB pages, prefaulted"),
                           ("thp", "THP"), ("thp prefaulted", "THP, prefaulted"),
                           ("hugetlb", "hugetlb 2 MiB"),
                           ("hugetlb prefaulted", "hugetlb 2 MiB, prefaulted")):
            m = re.search(r"(?:^|; |: )%s ([\d.]+) ms" % re.escape(key), mt)
            self.row("passthrough: VFIO_IOMMU_MAP_DMA of 256 MiB guest RAM (ms), %s" % title,
                     float(m.group(1)) if m else "failed", noq,
                     "inside the test host: tests/testhost/vfio_hostcheck (ptvm's iommu/ "
                     "against real VFIO and intel-iommu, suite vfio_host), one map of 256 MiB "
                     "(pins and maps every page); 'prefaulted': the memory touched first",
                     fmt="%.1f", chart=False)
        self.row("passthrough: edu DMA round trip (us)", "not measured", noq,
                 "the edu device's DMA engine is QEMU TCG code in the test host (it completes "
                 "on a timer of the emulator): its round trip measures the emulator, not ptvm; "
                 "ptvm's share is the exits per DMA above", chart=False)

    # ---- the arm64 test host: ptvm against QEMU -M virt ----

    def fig_arm64(self):
        """Start-up, Linux boot and memory of the arm64 ptvm against QEMU -M virt (issue 11)."""
        fig = ("arm64: exec to first guest instruction, to init, to power-off; memory "
               "(ptvm vs QEMU -M virt)")
        if self.quick:
            self.row(fig, "full run only", "full run only",
                     "measured inside the arm64 test host by `make bench` (a few minutes under "
                     "QEMU TCG), not by the quick run", chart=False)
            return
        arm = os.path.join(self.build, "arm64")  # make ARCH=arm64's BUILD below this one
        log("arm64 test host: building its image (make ARCH=arm64 testhost-image) and "
            "fetching QEMU for arm64")
        with open(os.path.join(self.raw, "arm64-make.out"), "w") as out:
            st = subprocess.run(["make", "-s", "ARCH=arm64", "BUILD=" + arm, "testhost-image"],
                                stdout=out, stderr=subprocess.STDOUT)
            if not st.returncode:
                st = subprocess.run(["tests/bench/fetch-qemu-arm64.sh",
                                     os.path.join(arm, "qemu")], stdout=out,
                                    stderr=subprocess.STDOUT)
        if st.returncode:
            self.fail("arm64: image or QEMU fetch failed (raw/arm64-make.out)")
            return
        # a private build dir with QEMU in its image; the shared one stays the tests'
        thb = os.path.join(self.out, "th-arm64")
        os.makedirs(os.path.join(thb, "testhost"), exist_ok=True)
        kdir = os.path.join(thb, "testhost", "kernel")
        if not os.path.islink(kdir):
            os.symlink(os.path.abspath(os.path.join(arm, "testhost", "kernel")), kdir)
        img = os.path.join(thb, "testhost", "host-initramfs.cpio")
        env = dict(os.environ, BUILD=arm, MACHINE="arm64",
                   BUSYBOX=os.path.join(arm, "sysroot", "bin", "busybox"),
                   EXTRA_FILES=os.path.join(arm, "qemu") + "=/qemu")
        with open(os.path.join(self.raw, "arm64-mkhost.out"), "w") as out:
            st = subprocess.run(["tests/testhost/mkhost.sh", img], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        if st.returncode:
            self.fail("arm64: mkhost.sh with QEMU failed (raw/arm64-mkhost.out)")
            return
        mb = os.path.getsize(img) / 1e6
        log("arm64 test host: image %.0f MB with QEMU; running bench_arm64" % mb)
        env = dict(os.environ, BUILD=thb, TH_MEM="1536M",
                   TH_APPEND="TH_BENCH=1 TH_BENCH_REPS=%d" % 3)
        t0 = time.monotonic()
        with open(os.path.join(self.raw, "arm64.out"), "w") as f:
            st = subprocess.run(["tests/testhost/run.sh", "--machine", "arm64", "--timeout",
                                 "900", "bench_arm64"], env=env, stdout=f,
                                stderr=subprocess.STDOUT)
        with open(os.path.join(self.raw, "arm64.out"), errors="replace") as f:
            text = f.read()
        log("arm64 test host: done in %.0f s (status %d)" % (time.monotonic() - t0,
                                                              st.returncode))
        if st.returncode:
            self.fail("arm64: run.sh exited %d (raw/arm64.out, %s/testhost/logs/latest.log)"
                      % (st.returncode, thb))
        passes = dict(re.findall(r"^\s*PASS (bench-arm64\S*) \((.*)\)\s*$", text, re.M))
        how = ("inside the arm64 test host (QEMU TCG virt with EL2, GICv3, SMMUv3, 2 vCPUs, "
               "1.5 GiB; its KVM in VHE mode), suite tests/testhost/suites/bench_arm64.sh: "
               "Debian arm64 Image, guest/linux busybox initrd, 512 MiB, \"panic=-1 quiet "
               "ptvm.boot=poweroff\" (the init powers off after its first line); median of 3, "
               "the VMMs taking turns; QEMU 7.2 -M virt,gic-version=3 -accel kvm -cpu host "
               "-nodefaults, carried into the image (%.0f MB with it) with its libraries; %s")

        def vals(vmm, c):
            m = re.match(r"first ([\d.-]+) ms, init ([\d.]+) s, exit ([\d.]+) s",
                         passes.get("bench-arm64-%s-%dcpu" % (vmm, c), ""))
            if not m:
                return None
            return [float(x) if x != "-" else "not traced" for x in m.groups()]
        for c in (1, 2):
            p, q = vals("ptvm", c), vals("qemu-virt", c)
            for i, (what, unit, desc) in enumerate((
                    ("exec to first guest instruction (ms)", "ms",
                     "ftrace in the test host: sched_process_exec of the VMM to the first "
                     "kvm_entry event"),
                    ("Linux boot to init (s)", "s", "seconds from the VMM's exec to the "
                     "init's PTVM-GUEST-INIT line"),
                    ("Linux boot to power-off (s)", "s", "to the VMM's exit"))):
                self.row("arm64: %s, %d vCPU, QEMU virt" % (what, c),
                         p[i] if p else "failed (raw/arm64.out)",
                         q[i] if q else "failed (raw/arm64.out)", how % (mb, desc),
                         fmt="%.2f")
        mem = {}
        for vmm in ("ptvm", "qemu-virt"):
            m = re.match(r"pss ([\d.-]+) MiB, rss ([\d.-]+) MiB",
                         passes.get("bench-arm64-memory-" + vmm, ""))
            mem[vmm] = (float(m.group(1)), float(m.group(2))) if m else None
        for i, what in ((0, "PSS"), (1, "RSS")):
            self.row("arm64: VMM %s minus guest RAM (MiB), QEMU virt" % what,
                     mem["ptvm"][i] if mem["ptvm"] else "failed (raw/arm64.out)",
                     mem["qemu-virt"][i] if mem["qemu-virt"] else "failed (raw/arm64.out)",
                     how % (mb, "1 vCPU, the guest idling after init (ptvm.boot=hold); "
                            "/proc/PID/smaps Pss (Rss) minus the Pss of the 512 MiB guest RAM "
                            "mapping"), fmt="%.1f", chart=(i == 0))

    # ---- output ----

    def write(self, started):
        md = os.path.join(self.out, "results.md")
        tsv = os.path.join(self.out, "results.tsv")
        with open(tsv, "w") as f:
            f.write("figure\tptvm\tqemu\tratio\thow\n")
            for r in self.rows:
                f.write("\t".join(r) + "\n")
        chart_ok = self.plot()
        with open(md, "w") as f:
            f.write("# ptvm against QEMU\n\n")
            f.write("%s run on %s, %s; %s, %d CPUs; %s; %.0f s.\n\n" % (
                "`make bench QUICK=1` (few repetitions: a smoke run, not figures to quote)"
                if self.quick else "`make bench`",
                time.strftime("%Y-%m-%d %H:%M"), os.uname().release, self.cpu_model(),
                os.cpu_count(), self.qemu_version(), time.time() - started))
            f.write("Ratio = ptvm / QEMU (for times and memory below 1 is ptvm better, for MB/s and "
                    "requests/s above 1). "
                    "Raw output of every run: `raw/`. Chart: `chart.png`%s.\n\n" %
                    ("" if chart_ok else " (not drawn: gnuplot missing or failed)"))
            f.write("| figure | ptvm | QEMU | ratio | how measured |\n|---|---|---|---|---|\n")
            for r in self.rows:
                f.write("| %s |\n" % " | ".join(x.replace("|", "/") for x in r))
            if self.notes:
                f.write("\n## Notes\n\n")
                for n in self.notes:
                    f.write("- %s\n" % n)
            analysis = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")
            if os.path.exists(analysis):
                f.write("\n")
                with open(analysis) as a:
                    f.write(a.read())
        log("wrote %s, %s%s" % (md, tsv, ", chart.png" if chart_ok else ""))

    def gnuplot(self):
        """gnuplot, installed from Debian's gnuplot-nox when missing (root or sudo)."""
        if not shutil.which("gnuplot"):
            log("installing gnuplot-nox for the chart")
            sudo = [] if os.geteuid() == 0 else ["sudo"]
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(sudo + ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                                   "gnuplot-nox"], env=env, stdout=subprocess.DEVNULL)
        return shutil.which("gnuplot")

    def plot(self):
        png = os.path.join(self.out, "chart.png")
        if os.path.exists(png):
            os.unlink(png)
        if not self.chart or not self.gnuplot():
            return False
        dat = os.path.join(self.out, "chart.dat")
        advs = []
        with open(dat, "w") as f:
            for i, (label, ratio, lower_is_better) in enumerate(self.chart):
                short = label.replace(" (ms)", "").replace(" (MiB)", "").replace(" (ns)", "") \
                    .replace(" (MB/s)", "").replace(" (requests/s)", "")
                # > 1: ptvm is better (less time or memory, more throughput)
                adv = 1 / ratio if lower_is_better and ratio > 0 else ratio
                advs.append(adv)
                f.write('%d "%s" %.4f %d\n' % (i, short.replace('"', "'"), adv,
                                                0x3070b0 if adv >= 1 else 0xc04040))
        gp = """set terminal pngcairo size 1400,%d font ",10" noenhanced
set output "%s"
set title "How many times better ptvm does than QEMU (blue: ptvm better, red: QEMU better; 1 = same)"
set style fill solid 0.8
set boxwidth 0.7
set yrange [-1:%d]
set xrange [%g:%g]
set ytics nomirror
set logscale x 2
set xlabel "QEMU / ptvm for times and memory, ptvm / QEMU for throughput (log scale)"
set grid xtics
unset key
plot "%s" using (1):1:(1):($3):($1-0.35):($1+0.35):4:ytic(2) with boxxyerror lc rgb variable, \\
     "%s" using ($3):1:(sprintf("%%.2f", $3)) with labels left offset 0.5,0
""" % (120 + 28 * len(self.chart), png, len(self.chart), min(0.5, min(advs) / 1.5),
       max(2, max(advs) * 3), dat, dat)
        gpf = os.path.join(self.out, "chart.gp")
        with open(gpf, "w") as f:
            f.write(gp)
        st = subprocess.run(["gnuplot", gpf], capture_output=True, text=True)
        if st.returncode != 0 or not os.path.exists(png):
            self.notes.append("chart: gnuplot failed: " + st.stderr.strip()[:200])
            return False
        return True

    @staticmethod
    def cpu_model():
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        return "unknown CPU"

    def qemu_version(self):
        if not self.has_qemu:
            return "no QEMU"
        st = subprocess.run([QEMU, "--version"], capture_output=True, text=True)
        return st.stdout.splitlines()[0] if st.stdout else "QEMU"


SKIPPED = 77  # make test-bench's "skipped by name"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", default="startup,memory,exits,blk,net,viommu,testhost,passthrough,arm64")
    args = ap.parse_args()
    b = Bench(args)
    started = time.time()
    for f in (b.ptvm, b.floor):
        if not os.access(f, os.X_OK):
            print("bench: %s missing (make bench builds it)" % f, file=sys.stderr)
            return 1
    figs = {"startup": b.fig_startup, "memory": b.fig_memory, "exits": b.fig_exits,
            "blk": b.fig_blk, "net": b.fig_net, "viommu": b.fig_viommu,
            "testhost": b.fig_testhost, "passthrough": b.fig_passthrough, "arm64": b.fig_arm64}
    names = args.only.split(",")
    for name in names:
        if name not in figs:
            print("bench: --only %s: no such figure (have %s)" % (name, ",".join(figs)),
                  file=sys.stderr)
            return 1
    # The figures before "testhost" run ptvm and QEMU on this machine's KVM; the test host's
    # and arm64's run them inside QEMU TCG test hosts, which need no /dev/kvm here.
    on_host_kvm = ("startup", "memory", "exits", "blk", "net", "viommu")
    host_kvm = os.access("/dev/kvm", os.R_OK | os.W_OK)
    if not host_kvm:
        why = "no usable /dev/kvm on this machine"
        if b.quick or all(n in on_host_kvm for n in names):
            # the quick run measures only on the host's KVM: nothing it could measure here
            print("bench: skipped: %s (the quick run measures ptvm and QEMU on it; "
                  "make bench measures the test hosts' figures without it)" % why)
            return SKIPPED
        for n in names:
            if n in on_host_kvm:
                b.notes.append("%s: not measured: %s" % (n, why))
        names = [n for n in names if n not in on_host_kvm]
    if not b.has_qemu:
        b.notes.append("%s not installed: QEMU columns empty (make deps installs it)" % QEMU)
    if host_kvm:
        b.measure_tsc()
    for name in names:
        log("figure: " + name)
        figs[name]()
    b.write(started)
    return 1 if b.errors else 0


if __name__ == "__main__":
    sys.exit(main())
