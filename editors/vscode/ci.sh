#!/usr/bin/env bash
# The VS Code extension's CI: install exactly the locked dependencies, lint, build, test,
# and package the .vsix. Runs from any directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

npm ci
npm run lint
npm run build
npm test
npm run package
