#!/usr/bin/env bash
# cfn-lint on the packaged CloudFormation template: no errors, no warnings (any suppression is justified inline
# in the template's source). Run after `npm run package` (`npm run lint:template` does both; .ci/run calls this).
# cfn-lint is a Python tool, not an npm dependency, so `npm test` never needs Python.
#   CFN_LINT_INSTALL=1  install the pinned version with pip when cfn-lint is missing (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
CFN_LINT_VERSION=1.51.0
template=.serverless/cloudformation-template-update-stack.json

[ -f "$template" ] || { echo "deploy/lint-template.sh: $template is missing; run npm run package first" >&2; exit 2; }
if ! command -v cfn-lint >/dev/null 2>&1; then
  if [ "${CFN_LINT_INSTALL:-}" = 1 ]; then
    python3 -m pip install --quiet "cfn-lint==${CFN_LINT_VERSION}"
  else
    echo "deploy/lint-template.sh: cfn-lint not found. Install it with: python3 -m pip install cfn-lint==${CFN_LINT_VERSION} (Python 3.9+)" >&2
    exit 2
  fi
fi
have="$(cfn-lint --version 2>/dev/null | awk '{print $2}')"
[ "$have" = "$CFN_LINT_VERSION" ] || echo "deploy/lint-template.sh: note: cfn-lint $have, checked with $CFN_LINT_VERSION; newer rules may report new findings" >&2
cfn-lint "$template"
echo "cfn-lint $have: $template clean"
