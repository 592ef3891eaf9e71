#!/bin/sh
# Example pre-deploy hook: refuse to deploy when required files are missing or a
# "do not deploy" marker is present in the commit. Use as
#   hooks:
#     pre-deploy:
#       - name: check
#         hook: pre-deploy-check.sh
#         env: {REQUIRED_FILES: "deploy/kustomization.yaml"}
set -eu
cd "${SLIPWAY_WORKSPACE:?not run by slipway}"
for file in ${REQUIRED_FILES:-}; do
  if [ ! -e "$file" ]; then
    echo "pre-deploy: required file $file is missing in $SLIPWAY_COMMIT_SHORT" >&2
    exit 1
  fi
done
if [ -e .slipway-hold ]; then
  echo "pre-deploy: .slipway-hold is present: deploys of $SLIPWAY_APP are on hold" >&2
  exit 1
fi
echo "pre-deploy: $SLIPWAY_APP at $SLIPWAY_COMMIT_SHORT may deploy"
