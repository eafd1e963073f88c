#!/usr/bin/env bash
# A real one-node SLURM cluster for the tests (tests/workflow/test_slurm_cluster.py), or by hand:
#
#   tests/slurm/cluster.sh check            # exit 0 when it can run here; else prints why and exits 3
#   tests/slurm/cluster.sh up STATE_DIR     # installs the Debian packages when missing, starts the daemons
#   export SLURM_CONF=STATE_DIR/slurm.conf  # then sbatch/squeue/sacct/snakemake --executor slurm talk to it
#   tests/slurm/cluster.sh down STATE_DIR   # cancels its jobs, stops every daemon by the PID it recorded
#
# Daemons: munged, mariadbd, slurmdbd (so that sacct, the plugin's status query, works), slurmctld, slurmd. Each runs
# in the foreground of its own background process, as root, on free local ports; its PID is recorded in
# STATE_DIR/pids/<name>.pid. The node is this machine under its short hostname, declared with 32 CPUs, 128 GB and two
# GPUs (SlurmdParameters=config_overrides), so that the jobs of profiles/slurm fit; the GPUs' device files are
# character devices like /dev/null in STATE_DIR/dev, enough for SLURM to allocate them and set CUDA_VISIBLE_DEVICES.
# Its partitions are named cpu and gpu, as in the profile. Everything (configs, spool, database,
# logs, PID files) is in STATE_DIR, except /etc/slurm/slurm.conf: a symlink to STATE_DIR/slurm.conf while the
# cluster is up, because the plugin's job step drops SLURM_CONF before it calls srun inside the job.
set -euo pipefail
PATH=$PATH:/usr/sbin:/sbin  # the daemons, where a user's PATH may not look

PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)
DAEMONS=(slurmd slurmctld slurmdbd mariadbd munged)  # the order `down` stops them in
SYSTEM_CONF=/etc/slurm/slurm.conf

die() { echo "cluster.sh: $*" >&2; exit 1; }

# Why this machine cannot run the cluster, or nothing.
why_not() {
    [ "$(uname -s)" = Linux ] || { echo "needs Linux (found $(uname -s))"; return; }
    [ "$(id -u)" = 0 ] || { echo "needs root: the daemons run as root and packages come from apt-get"; return; }
    if ! command -v slurmctld >/dev/null || ! command -v mariadbd >/dev/null; then
        command -v apt-get >/dev/null || { echo "SLURM is not installed and there is no apt-get to install it"; return; }
    fi
    if [ -e "$SYSTEM_CONF" ] && [ ! -L "$SYSTEM_CONF" ]; then
        echo "$SYSTEM_CONF exists: this machine has its own SLURM configuration, which the test cluster would shadow"
    elif [ -L "$SYSTEM_CONF" ] && [ -d "$(dirname "$(readlink "$SYSTEM_CONF")")/pids" ]; then
        echo "another test cluster is up ($(readlink "$SYSTEM_CONF")); take it down first"
    fi
}

# The Debian packages, when a daemon is missing. A policy-rc.d that denies every service start keeps their
# maintainer scripts from starting system daemons (here every daemon is started by hand, and stopped by its PID).
install_packages() {
    command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null && command -v munged >/dev/null &&
        command -v mariadbd >/dev/null && return
    echo "cluster.sh: installing ${PACKAGES[*]} (apt-get)" >&2
    local policy=/usr/sbin/policy-rc.d own_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
    fi
    local installed=1
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}" >/dev/null ||
        installed=
    [ -z "$own_policy" ] || rm -f "$policy"
    [ -n "$installed" ] || die "apt-get could not install ${PACKAGES[*]}"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start NAME COMMAND...: run COMMAND in the background in a session of its own (a Ctrl-C or a signal to the tests'
# process group does not reach it: `down` stops it), output to STATE/log/NAME.out, PID to STATE/pids/NAME.pid.
start() {
    local name=$1
    shift
    setsid "$@" >"$STATE/log/$name.out" 2>&1 </dev/null &
    echo $! >"$STATE/pids/$name.pid"
}

# wait_for WHAT SECONDS COMMAND...: retry COMMAND every half second until it succeeds.
wait_for() {
    local what=$1 limit=$2 deadline=$((SECONDS + $2))
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "$what did not come up within $limit s; logs in $STATE/log"
        sleep 0.5
    done
}

write_slurm_conf() {
    local node=$1 ctld_port=$2 slurmd_port=$3 dbd_port=$4
    cat >"$STATE/slurm.conf" <<EOF
ClusterName=effscale-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$STATE/munge.socket
CredType=cred/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
InactiveLimit=0
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
AccountingStoragePass=$STATE/munge.socket
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=32 RealMemory=131072 Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$node MaxTime=INFINITE State=UP
EOF
    mkdir -p "$STATE/dev"  # slurmd wants character devices: two of the kind of /dev/null (1, 3)
    mknod "$STATE/dev/gpu0" c 1 3
    mknod "$STATE/dev/gpu1" c 1 3
    printf 'NodeName=%s Name=gpu File=%s\nNodeName=%s Name=gpu File=%s\n' \
        "$node" "$STATE/dev/gpu0" "$node" "$STATE/dev/gpu1" >"$STATE/gres.conf"
}

write_slurmdbd_conf() {
    local dbd_port=$1 db_port=$2
    cat >"$STATE/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$STATE/munge.socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=root
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$STATE/slurmdbd.conf"
}

start_munge() {
    mungekey --create --keyfile="$STATE/munge.key" 2>/dev/null ||
        { dd if=/dev/urandom of="$STATE/munge.key" bs=1024 count=1 status=none && chmod 600 "$STATE/munge.key"; }
    start munged munged --foreground --force --socket="$STATE/munge.socket" --key-file="$STATE/munge.key" \
        --pid-file="$STATE/munged.pid" --log-file="$STATE/log/munged.log" --seed-file="$STATE/munged.seed"
    wait_for munged 20 munge --socket="$STATE/munge.socket" -n
}

# MariaDB on a local TCP port, without grant tables (nothing but this cluster's accounting is in it).
start_mariadb() {
    local port=$1
    mariadb-install-db --no-defaults --datadir="$STATE/mysql" --user=root --skip-test-db \
        >"$STATE/log/mariadb-install.out" 2>&1 || die "mariadb-install-db failed; see $STATE/log/mariadb-install.out"
    start mariadbd mariadbd --no-defaults --datadir="$STATE/mysql" --user=root --skip-grant-tables \
        --bind-address=127.0.0.1 --port="$port" --socket="$STATE/mysqld.sock" --pid-file="$STATE/mysqld.pid" \
        --log-error="$STATE/log/mariadb.log"
    wait_for mariadbd 60 mariadb --no-defaults --protocol=TCP --host=127.0.0.1 --port="$port" -e 'SELECT 1'
}

up() {
    local problem
    problem=$(why_not)
    [ -z "$problem" ] || die "$problem"
    [ ! -e "$STATE/pids" ] || die "$STATE already holds a cluster (run down first)"
    install_packages
    mkdir -p "$STATE/pids" "$STATE/log" "$STATE/slurmctld" "$STATE/slurmd"
    chmod 700 "$STATE"
    local node ctld_port slurmd_port dbd_port db_port
    node=$(hostname -s)
    ctld_port=$(free_port) slurmd_port=$(free_port) dbd_port=$(free_port) db_port=$(free_port)
    write_slurm_conf "$node" "$ctld_port" "$slurmd_port" "$dbd_port"
    write_slurmdbd_conf "$dbd_port" "$db_port"
    mkdir -p "$(dirname "$SYSTEM_CONF")"
    ln -sfn "$STATE/slurm.conf" "$SYSTEM_CONF"
    export SLURM_CONF="$STATE/slurm.conf"
    start_munge
    start_mariadb "$db_port"
    start slurmdbd slurmdbd -D  # reads slurmdbd.conf beside $SLURM_CONF
    wait_for slurmdbd 60 sacctmgr --immediate list cluster
    sacctmgr --immediate add cluster effscale-test >/dev/null 2>&1 || true
    start slurmctld slurmctld -D -i -f "$SLURM_CONF"
    wait_for slurmctld 60 scontrol ping
    start slurmd slurmd -D -f "$SLURM_CONF"
    wait_for "node $node" 60 bash -c "sinfo -h -n $node -o %t | grep -qx idle"
    wait_for sacct 30 sacct -n -X
    echo "cluster.sh: one-node SLURM up (node $node, partitions cpu and gpu, 2 GPUs); export SLURM_CONF=$SLURM_CONF" >&2
}

# stop NAME: SIGTERM the recorded PID if it is still that daemon, SIGKILL after 20 s; fails if it survives that.
stop() {
    local name=$1 pid_file="$STATE/pids/$1.pid" pid
    [ -f "$pid_file" ] || return 0
    pid=$(cat "$pid_file")
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 40); do
            [ -d "/proc/$pid" ] || break
            sleep 0.5
        done
        if [ -d "/proc/$pid" ]; then
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
        fi
        if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
            echo "cluster.sh: $name (pid $pid) is still running" >&2
            return 1
        fi
    fi
    rm -f "$pid_file"
}

down() {
    [ -d "$STATE/pids" ] || return 0
    export SLURM_CONF="$STATE/slurm.conf"
    if [ -f "$STATE/pids/slurmctld.pid" ]; then  # end the jobs first, so that no job step outlives slurmd
        timeout 20 squeue -h -o %i 2>/dev/null | xargs -r timeout 20 scancel 2>/dev/null || true
        for _ in $(seq 30); do
            [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    local failed=0
    for name in "${DAEMONS[@]}"; do
        stop "$name" || failed=1
    done
    if [ "$(readlink "$SYSTEM_CONF" 2>/dev/null)" = "$STATE/slurm.conf" ]; then
        rm -f "$SYSTEM_CONF"
    fi
    [ "$failed" = 0 ] || die "some daemons of $STATE are still running"
    rmdir "$STATE/pids"
    echo "cluster.sh: SLURM in $STATE stopped" >&2
}

down_unless_up() {
    [ "$1" = 0 ] || down
    exit "$1"
}

case "${1:-}" in
    check)
        problem=$(why_not)
        [ -z "$problem" ] || { echo "$problem"; exit 3; }
        ;;
    up | down)
        [ $# = 2 ] || die "usage: $0 $1 STATE_DIR"
        mkdir -p "$2"
        STATE=$(cd "$2" && pwd)
        if [ "$1" = up ]; then  # a cluster that fails to come up is taken down again
            trap 'down_unless_up $?' EXIT
        fi
        "$1"
        ;;
    *) die "usage: $0 check | up STATE_DIR | down STATE_DIR" ;;
esac
