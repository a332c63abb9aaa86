#!/usr/bin/env bash
# beat.sh: beat lovebeat from a shell script, over UDP (bash's /dev/udp, no
# other tool needed) or over HTTP (curl).
#
# Usage: beat.sh [-w WARN] [-e ERR] [-a] [-f] [-H] NAME
#   -w WARN  set the warning timeout first (seconds; -1 clears, -2 is auto)
#   -e ERR   set the error timeout first (same values)
#   -a       autobeat: error timeout auto, and beat
#   -f       report a failure instead of a beat (NAME.fail)
#   -H       use HTTP (POST /api/services/NAME) instead of UDP
# Environment: LOVEBEAT_HOST (default localhost), LOVEBEAT_PORT (UDP, 8127),
# LOVEBEAT_HTTP_PORT (8080).
#
# Examples:
#   beat.sh -e 3600 backup.nightly        # late after an hour without a beat
#   beat.sh -a queue.consumer             # let lovebeat learn the interval
#   beat.sh -H -w 300 -e 900 report.daily
set -euo pipefail

usage="usage: beat.sh [-w WARN] [-e ERR] [-a] [-f] [-H] NAME"
warn= err= action=beat http=
while getopts ":w:e:afH" opt; do
  case $opt in
    w) warn=$OPTARG ;;
    e) err=$OPTARG ;;
    a) action=autobeat ;;
    f) action=fail ;;
    H) http=1 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "$usage" >&2; exit 2; }
name=$1
host=${LOVEBEAT_HOST:-localhost}

if [ -n "$http" ]; then
  args=(--silent --show-error --fail --max-time 10 --request POST)
  [ -n "$warn" ] && args+=(--data-urlencode "warn-tmo=$warn")
  [ -n "$err" ] && args+=(--data-urlencode "err-tmo=$err")
  [ "$action" = autobeat ] && [ -z "$err" ] && args+=(--data-urlencode "err-tmo=auto")
  [ "$action" = fail ] && args+=(--data-urlencode "status=fail")
  curl "${args[@]}" "http://$host:${LOVEBEAT_HTTP_PORT:-8080}/api/services/$name" >/dev/null
  exit
fi

lines=
[ -n "$warn" ] && lines+="$name.warn:$warn|g"$'\n'
[ -n "$err" ] && lines+="$name.err:$err|g"$'\n'
lines+="$name.$action:1|c"$'\n'
# One datagram: lovebeat applies its lines in order.
printf '%s' "$lines" >"/dev/udp/$host/${LOVEBEAT_PORT:-8127}"
