/**
 * The sandbox tiers' seccomp filter: a classic-BPF program bwrap installs (`--seccomp FD`) right before it
 * executes the job, so every process of the job runs under it and cannot remove it (no_new_privs is set).
 *
 * What it refuses (EPERM unless noted), after the kernel-surface denylists of container runtimes:
 * - creating namespaces: `unshare`, `setns`, and `clone` with any CLONE_NEW* flag (nested user namespaces
 *   are how most unprivileged kernel exploits get the capabilities they need); `clone3` answers ENOSYS so
 *   C libraries fall back to `clone`, whose flags the filter can read (clone3 passes them in memory);
 * - mounting and the new mount API, `pivot_root`, `chroot`;
 * - kernel keyrings, eBPF, perf events, userfaultfd, io_uring, kernel modules, kexec, ptrace and
 *   cross-process memory access, handle-based opens (`open_by_handle_at`), quotas, swap, reboot, the
 *   clock, the kernel log, accounting, port I/O;
 * - the x32 ABI (syscall numbers with bit 30 set) and any architecture other than the one the filter was
 *   built for (the process is killed: a foreign-arch syscall number means something else).
 *
 * Only x86_64 is built here (the syscall table differs per architecture); on other hosts the executor runs
 * without a filter and says so in `bulkhead doctor`.
 */

/** `struct sock_filter`: 16-bit code, 8-bit jt, 8-bit jf, 32-bit k — 8 bytes, host (little) endian. */
interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// BPF opcodes (linux/bpf_common.h).
const BPF_LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_JSET_K = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const BPF_RET_K = 0x06; // BPF_RET | BPF_K

// Return values (linux/seccomp.h).
const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const EPERM = 1;
const ENOSYS = 38;

// Offsets in `struct seccomp_data`: nr (u32), arch (u32), instruction_pointer (u64), args[6] (u64 each).
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const OFFSET_ARG0_LOW = 16; // little endian: the low 32 bits of args[0]

const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;

/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME. */
export const CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

/** x86_64 syscall numbers the filter refuses with EPERM (arch/x86/entry/syscalls/syscall_64.tbl). */
export const deniedSyscallsX8664: Readonly<Record<string, number>> = {
  ptrace: 101,
  syslog: 103,
  uselib: 134,
  personality: 135,
  vhangup: 153,
  pivot_root: 155,
  _sysctl: 156,
  adjtimex: 159,
  chroot: 161,
  acct: 163,
  settimeofday: 164,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  iopl: 172,
  ioperm: 173,
  create_module: 174,
  init_module: 175,
  delete_module: 176,
  get_kernel_syms: 177,
  query_module: 178,
  quotactl: 179,
  nfsservctl: 180,
  lookup_dcookie: 212,
  clock_settime: 227,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  perf_event_open: 298,
  name_to_handle_at: 303,
  open_by_handle_at: 304,
  clock_adjtime: 305,
  setns: 308,
  process_vm_readv: 310,
  process_vm_writev: 311,
  finit_module: 313,
  kexec_file_load: 320,
  bpf: 321,
  userfaultfd: 323,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
};

const SYS_CLONE_X8664 = 56;
const SYS_CLONE3_X8664 = 435;

const ld = (offset: number): Instruction => ({ code: BPF_LD_W_ABS, jt: 0, jf: 0, k: offset });
const ret = (value: number): Instruction => ({ code: BPF_RET_K, jt: 0, jf: 0, k: value >>> 0 });

/** The filter as instructions (exported for tests that evaluate it). */
export const seccompProgramX8664 = (): Instruction[] => {
  const denied = [...new Set(Object.values(deniedSyscallsX8664))].sort((a, b) => a - b);
  const program: Instruction[] = [];
  // Wrong architecture: kill.
  program.push(ld(OFFSET_ARCH));
  program.push({ code: BPF_JEQ_K, jt: 1, jf: 0, k: AUDIT_ARCH_X86_64 });
  program.push(ret(SECCOMP_RET_KILL_PROCESS));
  program.push(ld(OFFSET_NR));
  // x32 ABI numbers: refused.
  program.push({ code: BPF_JGE_K, jt: 0, jf: 1, k: X32_SYSCALL_BIT });
  program.push(ret(SECCOMP_RET_ERRNO | EPERM));
  // clone3: ENOSYS (libc falls back to clone).
  program.push({ code: BPF_JEQ_K, jt: 0, jf: 1, k: SYS_CLONE3_X8664 });
  program.push(ret(SECCOMP_RET_ERRNO | ENOSYS));
  // clone with a namespace flag: EPERM; other clones (fork, threads): allowed.
  program.push({ code: BPF_JEQ_K, jt: 0, jf: 4, k: SYS_CLONE_X8664 });
  program.push(ld(OFFSET_ARG0_LOW));
  program.push({ code: BPF_JSET_K, jt: 0, jf: 1, k: CLONE_NEW_FLAGS });
  program.push(ret(SECCOMP_RET_ERRNO | EPERM));
  program.push(ret(SECCOMP_RET_ALLOW));
  // The denylist: each entry jumps to the shared EPERM return after the allow at the end.
  const after = denied.length; // instructions between an entry and the final pair
  denied.forEach((nr, i) => {
    // Jump over the remaining entries and the ALLOW to the EPERM return when equal.
    program.push({ code: BPF_JEQ_K, jt: after - i, jf: 0, k: nr });
  });
  program.push(ret(SECCOMP_RET_ALLOW));
  program.push(ret(SECCOMP_RET_ERRNO | EPERM));
  return program;
};

/** The program in the binary form bwrap reads from its `--seccomp` file descriptor. */
export const encodeSeccompProgram = (program: readonly Instruction[]): Buffer => {
  const buffer = Buffer.alloc(program.length * 8);
  program.forEach((instruction, i) => {
    buffer.writeUInt16LE(instruction.code, i * 8);
    buffer.writeUInt8(instruction.jt, i * 8 + 2);
    buffer.writeUInt8(instruction.jf, i * 8 + 3);
    buffer.writeUInt32LE(instruction.k >>> 0, i * 8 + 4);
  });
  return buffer;
};

/** The filter for this host's architecture, or undefined where none is built (not x86_64). */
export const seccompFilterForHost = (arch: string = process.arch): Buffer | undefined =>
  arch === 'x64' ? encodeSeccompProgram(seccompProgramX8664()) : undefined;

export const seccompReturn = { allow: SECCOMP_RET_ALLOW, killProcess: SECCOMP_RET_KILL_PROCESS, errno: (errno: number) => (SECCOMP_RET_ERRNO | errno) >>> 0 };
export const AUDIT_ARCH = { x86_64: AUDIT_ARCH_X86_64 };
