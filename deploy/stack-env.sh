#!/usr/bin/env bash
# Prints `export ...` lines that point the binary-backends CLI at a deployed stage, from the stack's outputs.
#   eval "$(deploy/stack-env.sh prod eu-west-1)"
#   binary-backends status --org <ORG_ID>
# Needs the aws CLI and credentials allowed cloudformation:DescribeStacks on the stack (the Support and
# Operators policies grant it).
set -euo pipefail
stage="${1:?usage: deploy/stack-env.sh <stage> [region]}"
region="${2:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}"
[ -n "$region" ] || { echo "deploy/stack-env.sh: give a region (argument or AWS_REGION)" >&2; exit 2; }
stack="binary-backends-${stage}"

outputs="$(aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text)"
value() { awk -v k="$1" '$1 == k { print $2 }' <<<"$outputs"; }

printf 'export AWS_REGION=%q\n' "$region"
printf 'export BINARY_BACKENDS_STATE_MACHINE_ARN=%q\n' "$(value OnboardingStateMachineArn)"
printf 'export BINARY_BACKENDS_TABLE=%q\n' "$(value TableName)"
printf 'export BINARY_BACKENDS_STARTER_FUNCTION=%q\n' "$(value StarterFunctionName)"
printf 'export BINARY_BACKENDS_DEACTIVATE_FUNCTION=%q\n' "$(value DeactivateFunctionName)"
printf 'export BINARY_BACKENDS_API_URL=%q\n' "$(value ApiUrl)"
printf 'export BINARY_BACKENDS_SIGNER_FUNCTION=%q\n' "$(value SignerFunctionName)"
printf 'export BINARY_BACKENDS_SECRET_PREFIX=%q\n' "$(value CloudFrontKeySecretPrefix)"
printf 'export BINARY_BACKENDS_EVENT_BUS=%q\n' "$(value EventBusName)"
printf 'export BINARY_BACKENDS_DEFAULT_BUCKET=%q\n' "$(value DefaultBucket)"
