#!/bin/sh
# deploy/kamailio/engines.sh N [HOST] [FIRST_PORT]: the dispatcher.list for N `ivr serve`
# engines listening on HOST:FIRST_PORT, HOST:FIRST_PORT+1, ... (default 127.0.0.1:5081),
# on stdout. Start engine i with `ivr serve --sip HOST:PORT_i --trust <Kamailio's address>`.
set -eu
n=${1:?usage: engines.sh N [HOST] [FIRST_PORT]}
host=${2:-127.0.0.1}
first=${3:-5081}
case $n$first in *[!0-9]*) echo "engines.sh: N and FIRST_PORT must be numbers" >&2; exit 2;; esac
if [ "$n" -lt 1 ] || [ $((first + n - 1)) -gt 65535 ]; then
  echo "engines.sh: need 1 <= N and FIRST_PORT+N-1 <= 65535" >&2; exit 2
fi
echo "# written by deploy/kamailio/engines.sh $n $host $first"
i=0
while [ "$i" -lt "$n" ]; do
  echo "1 sip:$host:$((first + i)) 0 0"
  i=$((i + 1))
done
