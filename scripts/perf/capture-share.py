#!/usr/bin/env python3
"""The service's own share of freshness, from a loopback capture (scripts/perf/capture-share).

    capture-share.py CAPTURE.pcap AMQP_PORT HTTP_PORT

For each event: from the first packet of the broker's port that holds its accountId and
sequence (its delivery reaching the service's socket) to the first HTTP answer of the service
that shows the account at that version, counted only where the reader was polling for it (a
'not yet' answer within 2 ms before). The broker's delay is not in it, nor the publisher's.
Standard library only; reads pcap (not pcapng) of loopback or Ethernet."""
import re, struct, sys, bisect
path, amqp_port, http_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, 'rb').read()
magic = struct.unpack('<I', data[:4])[0]
nano = magic == 0xa1b23c4d
link = struct.unpack('<I', data[20:24])[0]
off = 24
ev = re.compile(rb'"accountId":"([^"]+)","sequence":(\d+)')
rsp_id = re.compile(rb'"id":"([^"]+)"')
rsp_ver = re.compile(rb'"version":(\d+)')
arrival, responses = {}, {}
while off + 16 <= len(data):
    sec, frac, incl, orig = struct.unpack('<IIII', data[off:off+16]); off += 16
    pkt = data[off:off+incl]; off += incl
    t = sec + frac / (1e9 if nano else 1e6)
    if link == 1: p = pkt[14:]
    elif link == 113: p = pkt[16:]
    elif link == 276: p = pkt[20:]
    elif link == 0: p = pkt[4:]
    else: p = pkt
    if not p or p[0] >> 4 != 4: continue
    ihl = (p[0] & 15) * 4
    if p[9] != 6: continue
    tcp = p[ihl:]
    sport, dport = struct.unpack('>HH', tcp[:4])
    doff = (tcp[12] >> 4) * 4
    pay = tcp[doff:]
    if not pay: continue
    if sport == amqp_port:
        for m in ev.finditer(pay):
            k = (m.group(1), int(m.group(2)))
            if k not in arrival: arrival[k] = t
    elif sport == http_port:
        i, v = rsp_id.search(pay), rsp_ver.search(pay)
        if i and v: responses.setdefault(i.group(1), []).append((t, int(v.group(1))))
lat = []
for (acct, seq), ta in arrival.items():
    rs = responses.get(acct)
    if not rs: continue
    times = [r[0] for r in rs]
    j = bisect.bisect_left(times, ta)
    for k in range(j, len(rs)):
        if rs[k][1] >= seq:
            # the reader was polling for it: a 'not yet' answer within 2 ms before this one
            if k > 0 and rs[k-1][1] < seq and rs[k][0] - rs[k-1][0] < 0.002:
                lat.append((rs[k][0] - ta) * 1000)
            break
lat.sort()
def q(p): return lat[min(len(lat)-1, int(p * len(lat)))] if lat else float('nan')
print("internal n=%d p50=%.3f p90=%.3f p99=%.3f max=%.3f (ms)" % (len(lat), q(.5), q(.9), q(.99), lat[-1] if lat else float('nan')))
