import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUDIT_ARCH, CLONE_NEW_FLAGS, deniedSyscallsX8664, encodeSeccompProgram, seccompFilterForHost, seccompProgramX8664, seccompReturn } from './seccomp.ts';

/** A classic-BPF interpreter for the few opcodes the filter uses, over a `struct seccomp_data`. */
const evaluate = (program: Buffer, data: { nr: number; arch: number; arg0?: number }): number => {
  const packet = Buffer.alloc(64);
  packet.writeUInt32LE(data.nr >>> 0, 0);
  packet.writeUInt32LE(data.arch >>> 0, 4);
  packet.writeUInt32LE((data.arg0 ?? 0) >>> 0, 16);
  let acc = 0;
  for (let pc = 0; pc < program.length / 8; ) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    switch (code) {
      case 0x20: acc = packet.readUInt32LE(k); pc += 1; break;
      case 0x15: pc += 1 + (acc === k ? jt : jf); break;
      case 0x35: pc += 1 + (acc >= k ? jt : jf); break;
      case 0x45: pc += 1 + ((acc & k) !== 0 ? jt : jf); break;
      case 0x06: return k;
      default: throw new Error(`unexpected opcode ${code}`);
    }
  }
  throw new Error('fell off the end of the program');
};

const filter = encodeSeccompProgram(seccompProgramX8664());
const x86 = AUDIT_ARCH.x86_64;
const EPERM = seccompReturn.errno(1);

test('every denied syscall gets EPERM; ordinary ones are allowed', () => {
  for (const [name, nr] of Object.entries(deniedSyscallsX8664)) assert.equal(evaluate(filter, { nr, arch: x86 }), EPERM, name);
  // read, write, openat, mmap, execve, exit_group, futex, fork, wait4, socket (loopback only by netns)
  for (const nr of [0, 1, 257, 9, 59, 231, 202, 57, 61, 41]) assert.equal(evaluate(filter, { nr, arch: x86 }), seccompReturn.allow, String(nr));
});

test('clone: threads and fork pass, any namespace flag is refused; clone3 says ENOSYS', () => {
  const CLONE_VM = 0x100, CLONE_FS = 0x200, CLONE_FILES = 0x400, CLONE_SIGHAND = 0x800, CLONE_THREAD = 0x10000, SIGCHLD = 17;
  assert.equal(evaluate(filter, { nr: 56, arch: x86, arg0: CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD }), seccompReturn.allow);
  assert.equal(evaluate(filter, { nr: 56, arch: x86, arg0: SIGCHLD }), seccompReturn.allow);
  for (let bit = 0; bit < 32; bit += 1) {
    const flag = (1 << bit) >>> 0;
    if ((CLONE_NEW_FLAGS & flag) === 0) continue;
    assert.equal(evaluate(filter, { nr: 56, arch: x86, arg0: SIGCHLD | flag }), EPERM, `flag 0x${flag.toString(16)}`);
  }
  assert.equal(evaluate(filter, { nr: 435, arch: x86 }), seccompReturn.errno(38));
});

test('x32 numbers are refused and a foreign architecture is killed', () => {
  assert.equal(evaluate(filter, { nr: 0x40000000 + 1, arch: x86 }), EPERM);
  assert.equal(evaluate(filter, { nr: 0, arch: 0x40000003 /* i386 */ }), seccompReturn.killProcess);
});

test('built for x86_64 hosts only; the encoding is 8 bytes per instruction', () => {
  assert.equal(seccompFilterForHost('arm64'), undefined);
  assert.equal(seccompFilterForHost('x64')?.length, seccompProgramX8664().length * 8);
  assert.ok(seccompProgramX8664().length < 4096, 'within the kernel limit of 4096 instructions');
});
