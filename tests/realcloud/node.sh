#!/bin/bash
# The "machine" behind one IPMI BMC of the real-cloud harness. ipmi_sim runs this as its
# startcmd: the host is powered on exactly while this process lives. It starts the host's
# nova-compute (own session and process group) and, on ipmi_sim's SIGTERM (power off), SIGKILLs
# that group and exits at once: a hard power loss.
#
#   node.sh HOST STATE_DIR
#
# Flags in STATE_DIR/bmc/HOST/ (written by the harness):
#   broken    powered on, the host does not boot: no nova-compute is started
#   stuck-on  a lying BMC: power off is acknowledged and ignored (SIGTERM ignored; ipmi_sim
#             keeps reporting "on" while this process lives)
# SIGUSR1 starts nova-compute again when it died on its own (a crash, the BMC still says on).
set -u
host=${1:?HOST}; S=${2:?STATE_DIR}
flags=$S/bmc/$host
exec >>"$S/log/node-$host.log" 2>&1 </dev/null
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
say() { printf '%(%F %T)T node %s pid %s: %s\n' -1 "$host" "$$" "$*"; }
alive() { local l; { read -r l < "/proc/$1/stat"; } 2>/dev/null || return 1; l=${l##*) }; [[ ${l%% *} != Z ]]; }
starttime() { local l; read -r l < "/proc/$1/stat" || return 1; set -- ${l##*) }; echo "${20}"; }

echo $$ > "$S/run/node-$host.pid"
starttime $$ > "$S/run/node-$host.start"
cpid=

start_compute() {
  if [[ -n $cpid ]] && alive "$cpid"; then return 0; fi
  if [[ -e $flags/broken ]]; then say "powered on, does not boot (broken)"; cpid=; return 0; fi
  # A clean environment: nothing of whoever started the BMC reaches nova-compute.
  setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME="$S" \
    PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$S/bin/nova-compute" \
    --config-file "$S/etc/nova/nova.conf" --config-file "$S/etc/nova/$host.conf" \
    >>"$S/log/nova-compute-$host.log" 2>&1 </dev/null &
  cpid=$!
  echo "$cpid" > "$S/run/nova-compute-$host.pid"
  starttime "$cpid" > "$S/run/nova-compute-$host.start"
  say "nova-compute started, pid $cpid"
}

power_off() {
  if [[ -e $flags/stuck-on ]]; then say "SIGTERM (power off) ignored: stuck-on"; return; fi
  trap '' TERM INT HUP USR1
  if [[ -n $cpid ]]; then
    kill -KILL -- "-$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null
  fi
  rm -f "$S/run/nova-compute-$host.pid" "$S/run/nova-compute-$host.start" \
        "$S/run/node-$host.pid" "$S/run/node-$host.start"
  say "power off: nova-compute ${cpid:-(none)} killed"
  exit 0
}
trap power_off TERM INT HUP
trap start_compute USR1

say "power on"
start_compute
while :; do
  sleep 1 & wait $! 2>/dev/null
  if [[ -n $cpid ]] && ! alive "$cpid"; then
    wait "$cpid" 2>/dev/null; say "nova-compute $cpid exited on its own; the host stays on"; cpid=
  fi
done
