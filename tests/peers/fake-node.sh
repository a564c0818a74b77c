#!/bin/sh
# The "operating system" of a fake compute node behind ipmi_sim (process mode): ipmi_sim starts
# it on power on and sends it SIGTERM on power off, so a test can see that fencing really
# stopped a process. Usage: fake-node.sh STATEDIR
state=$1
mkdir -p "$state"
echo $$ > "$state/node.pid"
echo "start $$" >> "$state/node.log"
trap 'echo "stop $$" >> "$state/node.log"; rm -f "$state/node.pid"; exit 0' TERM INT
while :; do sleep 1; done
