#!/bin/sh
# PID 1 of the cgroup-v2 test VM (started by the image's /sbin/bulkhead-vm-init once /project is mounted).
# Sets the guest up like a cgroup-v2-only host whose service manager delegated a subtree to the platform
# (systemd Delegate=yes): controllers enabled in the root, the platform's processes in
# /sys/fs/cgroup/bulkhead.service. Then runs what `bulkhead.mode=` on the kernel command line asks for and
# prints `BULKHEAD-VM-EXIT=<status>` on the serial console, which scripts/vm/test-vm.sh parses.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
finish() {
  echo "BULKHEAD-VM-EXIT=$1"
  sync
  echo o > /proc/sysrq-trigger
  sleep 10
}
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts || mount -t cgroup2 cgroup2 /sys/fs/cgroup || finish 96
ip link set lo up
mode=tests
for arg in $(cat /proc/cmdline); do
  case "$arg" in bulkhead.mode=*) mode=${arg#bulkhead.mode=} ;; esac
done
echo "BULKHEAD-VM: kernel $(uname -r), $(nproc) CPUs, mode $mode"
echo "BULKHEAD-VM: cgroup mounts: $(grep cgroup /proc/mounts | cut -d' ' -f2,3 | tr '\n' ';')"
echo "BULKHEAD-VM: root controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
if grep -q ' cgroup ' /proc/mounts || grep -qE '^(memory|cpu|pids)[[:space:]]+[1-9]' /proc/cgroups; then
  echo "BULKHEAD-VM: a cgroup v1 hierarchy is active; this lane must run on v2 only"
  finish 95
fi
# Delegation as systemd does it: the parent enables the controllers, the service gets its own cgroup.
echo '+memory +cpu +pids +cpuset' > /sys/fs/cgroup/cgroup.subtree_control || finish 94
mkdir -p /sys/fs/cgroup/bulkhead.service
echo $$ > /sys/fs/cgroup/bulkhead.service/cgroup.procs || finish 94
echo "BULKHEAD-VM: running in $(cat /proc/self/cgroup)"
node=/project/node_modules/.bin/node
# Software emulation runs several times slower than the host: the e2e tests' "promptly" bounds scale.
export BULKHEAD_TEST_TIME_SCALE=4
cd /project
case "$mode" in
  tests)
    "$node" --test --test-concurrency=1 \
      src/executors/local/cgroups.test.ts \
      src/executors/local/sandbox-limits.e2e.test.ts \
      src/executors/local/sandbox-tenant-cap.e2e.test.ts
    status=$?
    ;;
  bench)
    "$node" bench/sandbox-spawn.ts 20 3
    status=$?
    ;;
  doctor)
    # What `bulkhead doctor` prints about cgroups and tiers here (the probe it runs, without a database).
    "$node" -e "import('/project/src/executors/local/index.ts').then(async (m) => { const p = await m.probeHost(); console.log('cgroups: ' + m.describeCgroups(p.cgroup)); console.log(JSON.stringify(p.tiers)); })"
    status=$?
    ;;
  *)
    echo "BULKHEAD-VM: unknown mode $mode"
    status=2
    ;;
esac
echo "BULKHEAD-VM: supervisor leaf now holds: $(cat /sys/fs/cgroup/bulkhead.service/bulkhead-supervisor/cgroup.procs 2>/dev/null | tr '\n' ' ')"
finish "$status"
