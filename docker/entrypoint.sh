#!/bin/sh
# The container's entrypoint: make sure the feature repo has data and is applied, then run
# `parity` with the container's arguments.
#
#   parity-entrypoint serve ARGS...  bootstrap (below), then `exec parity serve ARGS...`
#   parity-entrypoint ARGS...        `exec parity ARGS...` (apply, audit, get, ...)
#
# Bootstrap, chosen by PARITY_BOOTSTRAP:
#   example (default)  the baked-in example with no sample data yet (`parity quickstart
#                      --check` passes) -> `parity quickstart` (generates the example's
#                      sample data, applies, materializes into Redis, audits); anything else
#                      (sample data present, or a repo of your own mounted at /repo) ->
#                      `parity apply` and `parity materialize-incremental` (a new, empty
#                      Redis is filled again; your data is never replaced)
#   apply              `parity apply` and `parity materialize-incremental` (your own repo
#                      with its own sources)
#   none               nothing
# PARITY_REPO_DIR (default /repo) is the repo; PARITY_DATA_DIR (default $PARITY_REPO_DIR/data)
# its data folder, which must be writable by this user (the compose file mounts a named
# volume there). PARITY_BIN (default parity) is the command, for running this outside Docker.
set -eu

repo="${PARITY_REPO_DIR:-/repo}"
data="${PARITY_DATA_DIR:-$repo/data}"
parity="${PARITY_BIN:-parity}"
mode="${PARITY_BOOTSTRAP:-example}"

say() { echo "parity-entrypoint: $*" >&2; }

bootstrap() {
    mkdir -p "$data" 2>/dev/null || true
    if [ ! -d "$data" ] || [ ! -w "$data" ]; then
        say "error: the data folder $data is not a folder writable by uid $(id -u)."
        say "Mount a volume there (docker-compose.yml mounts parity-data at /repo/data) or"
        say "give it to uid $(id -u): chown -R $(id -u) <the host folder>"
        exit 2
    fi
    case "$mode" in
        none) return 0 ;;
        example)
            # Only the baked-in example is bootstrapped with sample data; any other repo
            # mounted at $repo (its own definitions, or data without sample.json) is applied.
            if [ ! -e "$data/sample.json" ]; then
                if "$parity" quickstart --check --repo "$repo" >/dev/null 2>&1; then
                    say "no sample data in $data: running parity quickstart (about a minute)"
                    # An audit finding (exit 1) is reported by the quickstart; still serve.
                    status=0
                    "$parity" quickstart --repo "$repo" || status=$?
                    if [ "$status" -gt 1 ]; then exit "$status"; fi
                    return 0
                fi
                say "$repo is not the example (parity quickstart --check): no sample data"
            fi
            ;;
        apply) ;;
        *)
            say "error: PARITY_BOOTSTRAP=$mode: use example, apply or none"
            exit 2
            ;;
    esac
    say "applying $repo and materializing what is new"
    "$parity" apply --repo "$repo"
    "$parity" materialize-incremental --repo "$repo"
}

if [ "${1:-}" = "serve" ]; then
    bootstrap
fi
exec "$parity" "$@"
