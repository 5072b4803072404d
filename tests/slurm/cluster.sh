#!/usr/bin/env bash
# A single-node Slurm on this machine for tests: `cluster.sh start DIR` starts munged, slurmctld
# and slurmd (all as root, all state, sockets, logs and the generated slurm.conf under DIR, on
# free ports), waits until the node is idle and prints `SLURM_CONF=DIR/slurm.conf`;
# `cluster.sh stop DIR` stops them. Exit code 77 with a reason on stderr when it cannot start here
# (not root, Slurm or munge not installed).
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?DIR}
skip() { echo "slurm: cannot start: $*" >&2; exit 77; }

if [ "$cmd" = stop ]; then
  for p in slurmd slurmctld munged; do
    [ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
  done
  sleep 1
  for p in slurmd slurmctld munged; do
    [ -f "$dir/$p.pid" ] && kill -9 "$(cat "$dir/$p.pid")" 2>/dev/null || true
  done
  exit 0
fi

[ "$(id -u)" = 0 ] || skip "not root (slurmd must run as root)"
for b in munged slurmctld slurmd sbatch squeue scontrol; do
  command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || skip "$b not installed (apt-get install slurm-wlm munge)"
done
export PATH="$PATH:/usr/sbin"
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"
# munge: a key of our own, its own socket
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/seed" \
  || skip "munged did not start: $(tail -3 "$dir/munged.log" 2>/dev/null)"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
cat > "$dir/slurm.conf" <<EOF
ClusterName=ddbench-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(port)
SlurmdPort=$(port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
JobRequeue=1
MinJobAge=600
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF" || skip "slurmctld did not start: $(tail -5 "$dir/slurmctld.log" 2>/dev/null)"
slurmd -f "$SLURM_CONF" || skip "slurmd did not start: $(tail -5 "$dir/slurmd.log" 2>/dev/null)"
for _ in $(seq 1 60); do
  if sinfo -h -o '%T' 2>/dev/null | grep -q '^idle'; then
    echo "SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.5
done
skip "the node did not come up idle: $(sinfo -h -N -o '%N %T %E' 2>&1); slurmd log: $(tail -5 "$dir/slurmd.log" 2>/dev/null)"
