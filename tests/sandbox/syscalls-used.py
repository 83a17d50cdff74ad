#!/usr/bin/env python3
"""What each ptvm thread kind really calls once its filter is loaded, from strace -ff output.

usage: syscalls-used.py TRACE_PREFIX...   (files TRACE_PREFIX.<tid>, from strace -ff -o PREFIX)

A thread's kind comes from the name it gives itself (prctl PR_SET_NAME: vcpuN, ptvm-spawner,
anything else is a device I/O thread) or, for the process's first thread, main. Syscalls are
counted from the thread's seccomp(SECCOMP_SET_MODE_FILTER) on; a spawned thread's syscalls
before that point run under the spawner's list and are counted for the spawner. ioctl
requests are listed by the name strace decodes. Prints one line per kind: the syscalls
(sorted), then the ioctl requests.
"""
import collections
import glob
import os
import re
import sys

CALL = re.compile(r'^(?:\d+:\d+:\d+\.\d+ )?([a-z_0-9]+)\((.*)')


def kind_of(name, first):
    if first:
        return 'main'
    if name.startswith('vcpu'):
        return 'vcpu'
    if name == 'ptvm-spawner':
        return 'spawner'
    return 'io'


def main():
    used = collections.defaultdict(set)
    ioctls = collections.defaultdict(set)
    for prefix in sys.argv[1:]:
        files = sorted(glob.glob(prefix + '.*'), key=lambda f: int(f.rsplit('.', 1)[1]))
        for i, path in enumerate(files):
            lines = open(path, errors='replace').read().splitlines()
            name = ''
            for line in lines:
                m = re.search(r'prctl\(PR_SET_NAME, "([^"]*)"', line)
                if m:
                    name = m.group(1)
                    break
            kind = kind_of(name, i == 0)
            filtered = False
            for line in lines:
                m = CALL.match(line)
                if not m:
                    continue
                call, args = m.group(1), m.group(2)
                # libseccomp probes the kernel with seccomp() calls that fail: only a
                # filter that loaded counts
                if (call == 'seccomp' and 'SECCOMP_SET_MODE_FILTER' in args and
                        'filter=' in args and re.search(r'= 0$', line)):
                    filtered = True
                    continue
                k = kind if filtered else ('spawner' if kind in ('vcpu', 'io') else None)
                if not k:
                    continue
                used[k].add(call)
                if call == 'ioctl':
                    req = args.split(',')[1].strip() if ',' in args else '?'
                    ioctls[k].add(req)
    for k in ('main', 'vcpu', 'io', 'spawner'):
        print('%-8s %2d syscalls: %s' % (k, len(used[k]), ' '.join(sorted(used[k]))))
        print('%-8s %2d ioctls:   %s' % ('', len(ioctls[k]), ' '.join(sorted(ioctls[k]))))


if __name__ == '__main__':
    main()
