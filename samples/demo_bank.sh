#!/bin/sh
# make demo's business part: start the sample bank on a free port (seeded afresh), replay the
# Korean audio caller who lost a card against it, print the bank's request log, stop the bank.
# Usage: samples/demo_bank.sh PYTHON IVR FLOW QUEUE
set -eu
PY=$1; IVR=$2; FLOW=$3; QUEUE=$4
DB=var/demo-bank.sqlite3
mkdir -p var
rm -f "$DB" "$DB"-*
export BANK_TOKEN=demo-token IVR_BANK_TOKEN=demo-token
"$PY" -m samples.bank seed --db "$DB" --customers 300 >/dev/null
"$PY" -m samples.bank --listen 127.0.0.1:0 --admin 127.0.0.1:0 --db "$DB" >var/demo-bank.out 2>&1 &
BANK=$!
trap 'kill $BANK 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "bank listening" var/demo-bank.out && break; sleep 0.1; done
URL=$(sed -n 's/^bank listening on \([^ ]*\) .*/\1/p' var/demo-bank.out)
ADMIN=$(sed -n 's/.* admin \(.*\)$/\1/p' var/demo-bank.out)
echo "--- the sample bank at $URL: a Korean caller lost a card, keys the digits, hears the freeze ---"
"$IVR" replay --flow "$FLOW" --queue "$QUEUE" --backend "$URL" -v samples/calls_bank/ko_audio_card_loss.yaml
echo "--- what the bank was asked (its request log: the PIN only in verify, as a keyed hash) ---"
"$PY" - "$ADMIN" <<'PYEOF'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/admin/requests",
                             headers={"Authorization": "Bearer demo-token"})
for q in json.load(urllib.request.urlopen(req))["requests"]:
    print(q["operation"], q["status"], json.dumps(q["body"], ensure_ascii=False))
PYEOF
