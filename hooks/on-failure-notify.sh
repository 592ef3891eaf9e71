#!/bin/sh
# Example on-failure hook: POST a JSON summary of the failed job to a URL
# (a chat webhook, an incident tool).
#   env: {NOTIFY_URL: "https://chat.example.com/hooks/deploys", NOTIFY_CA_FILE: ""}
set -eu
url="${NOTIFY_URL:?set NOTIFY_URL to where the notice goes}"
escape() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }
body=$(printf '{"text":"%s","app":"%s","job":%s,"commit":"%s","failed_step":"%s","status":"%s"}' \
  "$(escape "Slipway: $SLIPWAY_APP job $SLIPWAY_JOB_ID failed at ${SLIPWAY_FAILED_STEP:-?} ($SLIPWAY_COMMIT_SHORT)")" \
  "$(escape "$SLIPWAY_APP")" "$SLIPWAY_JOB_ID" "$SLIPWAY_COMMIT" "$(escape "${SLIPWAY_FAILED_STEP:-}")" "${SLIPWAY_JOB_STATUS:-failed}")
set -- --silent --show-error --max-time 10 --retry 2 -o /dev/null -w '%{http_code}'
[ -n "${NOTIFY_CA_FILE:-}" ] && set -- "$@" --cacert "$NOTIFY_CA_FILE"
code=$(printf '%s' "$body" | curl "$@" -X POST -H 'Content-Type: application/json' --data-binary @- "$url")
echo "notify: $url answered $code"
case "$code" in 2??) exit 0 ;; *) exit 1 ;; esac
