#!/usr/bin/env bash
# Checks that the C++ sources follow .clang-format (Google base, 100 columns). Fix with:
#   clang-format -i $(git ls-files '*.h' '*.cpp')
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.h' '*.cpp' '*.cpp.in' 2>/dev/null | grep -v '\.in$' || true)
if ((${#files[@]} == 0)); then
  mapfile -t files < <(find core tests bench wasm server_stub -name '*.h' -o -name '*.cpp' 2>/dev/null)
fi
if ! clang-format --dry-run --Werror "${files[@]}"; then
  echo "format: files above differ from .clang-format; run: clang-format -i \$(git ls-files '*.h' '*.cpp')" >&2
  exit 1
fi
echo "format: ${#files[@]} C++ files follow .clang-format"
if [[ -n "${WAYMARK_TIER_SUMMARY:-}" ]]; then
  echo "${#files[@]} C++ files formatted" >"$WAYMARK_TIER_SUMMARY"
fi
