#!/bin/sh
# ipmi_sim's chassis_control program (script mode): ipmi_sim runs
#   chassis-control.sh STATEDIR get power           -> prints "power:0|1"
#   chassis-control.sh STATEDIR set power 0|1 ...   (also reset, boot)
# The power state is STATEDIR/power. Faults, each a file a test creates in STATEDIR:
#   lying     "set power 0" is acknowledged but the power stays on
#   fail-get  "get" fails (the BMC answers with an error completion code)
#   fail-set  "set" fails
#   delay     seconds to wait before answering (ipmi_sim is blocked meanwhile: a slow BMC)
st=$1; op=$2; shift 2
echo "$op $*" >> "$st/control.log"
if [ -f "$st/delay" ]; then sleep "$(cat "$st/delay")"; fi
[ -f "$st/power" ] || echo 1 > "$st/power"
case $op in
  get)
    [ -f "$st/fail-get" ] && exit 1
    for p in "$@"; do
      case $p in
        power) echo "power:$(cat "$st/power")" ;;
        boot) echo "boot:default" ;;
        *) exit 1 ;;
      esac
    done ;;
  set)
    [ -f "$st/fail-set" ] && exit 1
    while [ $# -ge 2 ]; do
      p=$1; v=$2; shift 2
      case $p in
        power)
          if [ "$v" = 0 ] && [ -f "$st/lying" ]; then continue; fi
          echo "$v" > "$st/power" ;;
        reset|boot|shutdown) : ;;
        *) exit 1 ;;
      esac
    done ;;
  *) exit 1 ;;
esac
exit 0
