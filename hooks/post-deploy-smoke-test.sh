#!/bin/sh
# Example post-deploy hook: GET a URL until it answers 2xx, with retries.
#   env: {SMOKE_URL: "https://shop.example.com/healthz", SMOKE_TRIES: "10", SMOKE_DELAY: "3", SMOKE_CA_FILE: ""}
set -eu
url="${SMOKE_URL:?set SMOKE_URL to the address to check}"
tries="${SMOKE_TRIES:-10}"
delay="${SMOKE_DELAY:-3}"
set -- --silent --show-error --max-time 10 -o /dev/null -w '%{http_code}'
[ -n "${SMOKE_CA_FILE:-}" ] && set -- "$@" --cacert "$SMOKE_CA_FILE"
attempt=1
while [ "$attempt" -le "$tries" ]; do
  code=$(curl "$@" "$url" 2>/dev/null || echo 000)
  case "$code" in
    2??) echo "smoke test: $url answered $code (attempt $attempt)"; exit 0 ;;
  esac
  echo "smoke test: $url answered $code (attempt $attempt of $tries)"
  attempt=$((attempt + 1))
  [ "$attempt" -le "$tries" ] && sleep "$delay"
done
echo "smoke test: $url never answered 2xx" >&2
exit 1
