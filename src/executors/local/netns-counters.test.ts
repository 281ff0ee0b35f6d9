import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deniedNetworkOf, noDeniedNetwork, parseSnmp6, parseSnmpTable } from './netns-counters.ts';

// Shapes as Linux 6.x prints them (values changed).
const snmp = [
  'Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits',
  'Ip: 2 64 10 0 0 0 0 0 10 12 0 3 0 0 0 0 0 0 0 12',
  'Icmp: InMsgs InErrors InCsumErrors InDestUnreachs',
  'Icmp: 1 0 0 1',
  'Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors',
  'Tcp: 1 200 120000 -1 4 1 2 0 0 9 9 0 0 2 0',
  'Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors',
  'Udp: 0 5 0 5 0 0 0 0 0',
  '',
].join('\n');
const snmp6 = 'Ip6InReceives                   \t0\nIp6OutNoRoutes                  \t4\nUdp6NoPorts                     \t1\n';

test('parses both proc formats, including a negative MaxConn', () => {
  const table = parseSnmpTable(snmp);
  assert.equal(table.get('Tcp:AttemptFails'), 2);
  assert.equal(table.get('Tcp:MaxConn'), -1);
  assert.equal(table.get('Ip:OutNoRoutes'), 3);
  assert.equal(parseSnmp6(snmp6).get('Ip6OutNoRoutes'), 4);
});

test('denied attempts add IPv4 and IPv6; a kernel without IPv6 counts 0 for it', () => {
  assert.deepEqual(deniedNetworkOf(snmp, snmp6), { refusedConnects: 2, unroutableSends: 7, closedPortDatagrams: 6 });
  assert.deepEqual(deniedNetworkOf(snmp, undefined), { refusedConnects: 2, unroutableSends: 3, closedPortDatagrams: 5 });
  assert.deepEqual(deniedNetworkOf('', undefined), { refusedConnects: 0, unroutableSends: 0, closedPortDatagrams: 0 });
  assert.equal(noDeniedNetwork({ refusedConnects: 0, unroutableSends: 0, closedPortDatagrams: 0 }), true);
  assert.equal(noDeniedNetwork({ refusedConnects: 0, unroutableSends: 1, closedPortDatagrams: 0 }), false);
});
