#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Writes the hand-built sysfs fixtures sysfs-cxl-ram-interleaved and sysfs-hmem-devdax below the
# directory given (tests/data): their shape follows Documentation/ABI/testing/sysfs-bus-{cxl,dax}
# and the formats of drivers/cxl/core/{port,region}.c and drivers/dax/bus.c in Linux 6.12 (the
# same as in the lab captures sysfs-cxl-lab-*); the values are those of a made-up host.
#     python3 tests/data/make-cxl-fixtures.py tests/data
import os, sys, shutil
out = sys.argv[1]

def tree(name):
    root = os.path.join(out, name)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    def w(path, content):
        p = os.path.join(root, path); os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, 'w').write(content)
    def l(path, target):
        p = os.path.join(root, path); os.makedirs(os.path.dirname(p), exist_ok=True)
        os.symlink(target, p)
    def rel(frm, to):  # relative symlink target from link path frm to path to
        return os.path.relpath(to, os.path.dirname(frm))
    return root, w, l, rel

def nodes(w, l, rel, cpus, blocks, online, distances):
    # distances: one row per online node, in order; sizes and free memory from the blocks
    w('devices/system/node/online', online + '\n')
    for i, n in enumerate(cpus):
        kb = sum(128 << 10 for b, (bn, state, zone) in blocks.items() if bn == n and state == 'online')
        w(f'devices/system/node/node{n}/meminfo', f'Node {n} MemTotal:       {kb} kB\n'
          f'Node {n} MemFree:        {kb * 3 // 4} kB\nNode {n} MemUsed:        {kb - kb * 3 // 4} kB\n')
        w(f'devices/system/node/node{n}/distance', ' '.join(str(d) for d in distances[i]) + '\n')
    w('devices/system/node/possible', online + '\n')
    w('devices/system/memory/block_size_bytes', '8000000\n')
    w('devices/system/memory/auto_online_blocks', 'offline\n')
    for n, c in cpus.items():
        w(f'devices/system/node/node{n}/cpulist', c + '\n')
    for b, (n, state, zone) in blocks.items():
        w(f'devices/system/memory/memory{b}/state', state + '\n')
        w(f'devices/system/memory/memory{b}/valid_zones', zone + '\n')
        w(f'devices/system/memory/memory{b}/phys_index', '%08x\n' % b)
        if n is not None:
            l(f'devices/system/node/node{n}/memory{b}', f'../../memory/memory{b}')
            l(f'devices/system/memory/memory{b}/node{n}', f'../../node/node{n}')

# 1. A host with volatile CXL memory: two 2 GiB type-3 memdevs below one host bridge, one ram
#    region interleaving them 2-way at 4 KiB, its dax device onlined by kmem, movable: node 1.
root, w, l, rel = tree('sysfs-cxl-ram-interleaved')
blocks = {b: (0, 'online', 'Normal' if b >= 8 else 'DMA32') for b in range(0, 16)}
blocks[0] = (0, 'online', 'none')
for b in range(272, 304):
    blocks[b] = (1, 'online', 'Movable')
nodes(w, l, rel, {0: '0-7', 1: ''}, blocks, '0-1', [[10, 20], [20, 10]])
w('devices/system/node/has_cpu', '0\n'); w('devices/system/node/has_memory', '0-1\n')
acpi = 'devices/platform/ACPI0017:00'
r0 = f'{acpi}/root0'
p1 = f'{r0}/port1'
devs = {}
def dev(name, path):
    devs[name] = path
    l(f'bus/cxl/devices/{name}', rel(f'bus/cxl/devices/{name}', path))
dev('root0', r0); w(f'{r0}/devtype', 'cxl_port\n')
dev('port1', p1); w(f'{p1}/devtype', 'cxl_port\n')
l(f'{p1}/uport', rel(f'{p1}/uport', 'devices/pci0000:35'))
d00 = f'{r0}/decoder0.0'
dev('decoder0.0', d00)
for k, v in {'devtype': 'cxl_decoder_root', 'start': '0x880000000', 'size': '0x200000000', 'interleave_ways': '1',
             'interleave_granularity': '4096', 'cap_ram': '1', 'cap_pmem': '1', 'cap_type2': '0', 'cap_type3': '1',
             'target_list': '53', 'locked': '0', 'qos_class': '42', 'create_ram_region': 'region1',
             'create_pmem_region': 'region1'}.items():
    w(f'{d00}/{k}', v + '\n')
d10 = f'{p1}/decoder1.0'
dev('decoder1.0', d10)
for k, v in {'devtype': 'cxl_decoder_switch', 'start': '0x880000000', 'size': '0x100000000', 'interleave_ways': '2',
             'interleave_granularity': '4096', 'target_list': '0,1', 'target_type': 'expander', 'region': 'region0',
             'locked': '0'}.items():
    w(f'{d10}/{k}', v + '\n')
for i, (ep, pci) in enumerate([('endpoint2', '0000:35:00.0/0000:36:00.0'), ('endpoint3', '0000:35:01.0/0000:37:00.0')]):
    mem = f'devices/pci0000:35/{pci}/mem{i}'
    dev(f'mem{i}', mem)
    for k, v in {'ram/size': '0x80000000', 'pmem/size': '0x0', 'serial': '0x1a2b3c4d0000000%d' % (i + 1),
                 'numa_node': '0', 'firmware_version': 'FW 1.2.%d' % i, 'label_storage_size': '0',
                 'payload_max': '1048576', 'security/state': 'disabled', 'ram/qos_class': '42'}.items():
        w(f'{mem}/{k}', v + '\n')
    l(f'{mem}/driver', rel(f'{mem}/driver', 'bus/cxl/drivers/cxl_mem'))
    epd = f'{p1}/{ep}'
    dev(ep, epd)
    w(f'{epd}/devtype', 'cxl_port\n'); w(f'{epd}/decoders_committed', '1\n')
    l(f'{epd}/uport', rel(f'{epd}/uport', mem))
    dec = f'{epd}/decoder{2 + i}.0'
    dev(f'decoder{2 + i}.0', dec)
    for k, v in {'devtype': 'cxl_decoder_endpoint', 'start': '0x880000000', 'size': '0x100000000',
                 'interleave_ways': '2', 'interleave_granularity': '4096', 'mode': 'ram', 'dpa_resource': '0x0',
                 'dpa_size': '0x80000000', 'region': 'region0', 'target_type': 'expander', 'locked': '0'}.items():
        w(f'{dec}/{k}', v + '\n')
reg = f'{d00}/region0'
dev('region0', reg)
for k, v in {'devtype': 'cxl_region', 'mode': 'ram', 'resource': '0x880000000', 'size': '0x100000000',
             'interleave_ways': '2', 'interleave_granularity': '4096', 'commit': '1', 'uuid': '',
             'target0': 'decoder2.0', 'target1': 'decoder3.0'}.items():
    w(f'{reg}/{k}', v + '\n')
l(f'{reg}/driver', rel(f'{reg}/driver', 'bus/cxl/drivers/cxl_region'))
dr = f'{reg}/dax_region0'
dev('dax_region0', dr)
w(f'{dr}/devtype', 'cxl_dax_region\n')
w(f'{dr}/dax_region/id', '0\n'); w(f'{dr}/dax_region/size', '4294967296\n'); w(f'{dr}/dax_region/align', '2097152\n')
w(f'{dr}/dax_region/available_size', '0\n'); w(f'{dr}/dax_region/seed', 'dax0.1\n')
dx = f'{dr}/dax0.0'
l('bus/dax/devices/dax0.0', rel('bus/dax/devices/dax0.0', dx))
for k, v in {'size': '4294967296', 'target_node': '1', 'numa_node': '0', 'align': '2097152', 'resource': '0x880000000',
             'memmap_on_memory': '1', 'mapping0/start': '0x880000000', 'mapping0/end': '0x97fffffff',
             'mapping0/page_offset': '0x0'}.items():
    w(f'{dx}/{k}', v + '\n')
l(f'{dx}/driver', rel(f'{dx}/driver', 'bus/dax/drivers/kmem'))
# the empty seed device next to it, bound to nothing
dx1 = f'{dr}/dax0.1'
l('bus/dax/devices/dax0.1', rel('bus/dax/devices/dax0.1', dx1))
for k, v in {'size': '0', 'target_node': '1', 'numa_node': '0', 'align': '2097152', 'resource': '0x880000000',
             'memmap_on_memory': '1'}.items():
    w(f'{dx1}/{k}', v + '\n')
w('devices/virtual/memory_tiering/memory_tier4/nodelist', '0\n')
w('devices/virtual/memory_tiering/memory_tier22/nodelist', '1\n')

# 2. The CXL host guide's starting point on a BIOS-configured host with kmem blacklisted and no
#    CXL driver loaded: soft-reserved memory as dax0.0 (hmem), devdax mode, node 1 not online.
root, w, l, rel = tree('sysfs-hmem-devdax')
blocks = {b: (0, 'online', 'Normal') for b in range(0, 16)}
nodes(w, l, rel, {0: '0-3'}, blocks, '0', [[10]])
w('devices/system/node/has_cpu', '0\n'); w('devices/system/node/has_memory', '0\n')
w('devices/system/node/possible', '0-1\n')
dx = 'devices/platform/hmem.0/dax0.0'
l('bus/dax/devices/dax0.0', rel('bus/dax/devices/dax0.0', dx))
for k, v in {'size': '17179869184', 'target_node': '1', 'numa_node': '0', 'align': '2097152',
             'resource': '0x1050000000', 'memmap_on_memory': '0', 'mapping0/start': '0x1050000000',
             'mapping0/end': '0x144fffffff', 'mapping0/page_offset': '0x0'}.items():
    w(f'{dx}/{k}', v + '\n')
w('devices/platform/hmem.0/dax_region/id', '0\n'); w('devices/platform/hmem.0/dax_region/size', '17179869184\n')
l(f'{dx}/driver', rel(f'{dx}/driver', 'bus/dax/drivers/device_dax'))
print('ok')
