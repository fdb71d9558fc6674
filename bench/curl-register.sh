#!/usr/bin/env bash
# What a user writes today to re-register every instance's webhooks: a shell
# loop of curl PUTs, one by one. Reads the simulator's info file written by
# `benchkit sim` (base URL, Client-Token, instances with their tokens).
# Usage: bench/curl-register.sh SIM_INFO_JSON
set -euo pipefail
info=$1
base=$(jq -r .base_url "$info")
ct=$(jq -r .client_token "$info")
public=https://zapi-dash.bench.invalid
fails=0
while read -r id token; do
  for hook in disconnected connected; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
      -H "Client-Token: $ct" -H 'Content-Type: application/json' \
      -d "{\"value\":\"$public/hooks/$hook\"}" \
      "$base/instances/$id/token/$token/update-webhook-$hook")
    [ "$code" = 200 ] || fails=$((fails + 1))
  done
done < <(jq -r '.instances[] | "\(.id) \(.token)"' "$info")
echo "failed: $fails"
