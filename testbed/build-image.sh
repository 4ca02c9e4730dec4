#!/usr/bin/env bash
# Build the test host image localhost/certfleet-testhost:bookworm: a Debian
# bookworm root file system made with debootstrap and imported into podman,
# with systemd as PID 1.
#
# The image carries a label with the SHA-256 of the package list and of this
# script. When an image with the same label exists, the build is skipped, so a
# repeated run takes about a second. Pass --force to build anyway.
#
# The Debian mirror comes from the machine's apt sources at run time, or from
# the DEBIAN_MIRROR environment variable when it is set.
#
# Usage: testbed/build-image.sh [--force]
set -euo pipefail

readonly image="localhost/certfleet-testhost:bookworm"
readonly suite="bookworm"
readonly recipe_label="certfleet.testhost.recipe-sha256"
readonly packages=(
    python3 python3-cryptography python3-cffi-backend python3-apt
    systemd systemd-sysv nginx openssl curl ca-certificates procps iproute2 cron
)
# Timers that have nothing to do in a disposable test container. The apt and
# dpkg timers would also change the hosts while a test runs. Boot needs no
# other masks: on a 2-core Debian 12 VM a container reached "running" in under
# a second with no failed unit.
readonly masked_units=(
    apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer
)

script_path="$(readlink -f "${BASH_SOURCE[0]}")"
script_dir="$(dirname "$script_path")"
export CONTAINERS_CONF="$script_dir/containers.conf"

log() {
    echo "build-image: $*"
}

die() {
    echo "build-image: error: $*" >&2
    exit 1
}

# Print the seconds elapsed since $1 (a `date +%s.%N` value) with one decimal.
elapsed_since() {
    awk -v start="$1" -v end="$(date +%s.%N)" 'BEGIN { printf "%.1f", end - start }'
}

# Print the first URI of an enabled "deb" source whose suites include $suite.
# Reads deb822 files (*.sources) and one-line files (sources.list, *.list).
find_mirror() {
    local files=()
    local file
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] && files+=("$file")
    done
    if [ "${#files[@]}" -gt 0 ]; then
        # One-line format: deb [options] URI SUITE COMPONENT...
        awk -v suite="$suite" '
            $1 == "deb" {
                field = 2
                if ($field ~ /^\[/) {
                    while (field <= NF && $field !~ /\]$/) field++
                    field++
                }
                if ($(field + 1) == suite) { print $field; exit }
            }' "${files[@]}" | head -n 1
    fi

    files=()
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] && files+=("$file")
    done
    if [ "${#files[@]}" -gt 0 ]; then
        # deb822 format: stanzas of "Field: value" lines separated by blank lines.
        awk -v suite="$suite" '
            function check_stanza(   count, i, words) {
                if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no") {
                    count = split(suites, words, " ")
                    for (i = 1; i <= count; i++) {
                        if (words[i] == suite) {
                            split(uris, words, " ")
                            print words[1]
                            exit
                        }
                    }
                }
                types = ""; uris = ""; suites = ""; enabled = ""
            }
            FNR == 1 { check_stanza() }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { check_stanza(); next }
            {
                name = tolower($1)
                sub(/^[^:]*:[ \t]*/, "")
                if (name == "types:") types = $0
                else if (name == "uris:") uris = $0
                else if (name == "suites:") suites = $0
                else if (name == "enabled:") enabled = $0
            }
            END { check_stanza() }' "${files[@]}" | head -n 1
    fi
}

force=false
case "${1:-}" in
    "") ;;
    --force) force=true ;;
    -h | --help)
        echo "usage: $0 [--force]"
        echo "Build $image; --force rebuilds even when an image with the same recipe exists."
        exit 0
        ;;
    *) die "unknown argument '$1'; usage: $0 [--force]" ;;
esac

if [ "$(id -u)" -ne 0 ]; then
    die "must run as root because debootstrap creates device files and sets file owners; run it with sudo"
fi
for command in podman debootstrap tar; do
    if ! command -v "$command" >/dev/null 2>&1; then
        die "'$command' not found; install the test bed packages with testbed/install-host-packages.sh (as root)"
    fi
done

# Serialize builds on this machine. A second run waits here, then finds the
# image that the first run built and skips its own build.
readonly lock_file="/run/lock/certfleet-testhost-build.lock"
exec {lock_fd}>"$lock_file"
if ! flock --nonblock "$lock_fd"; then
    log "waiting for another build-image.sh run to finish (lock $lock_file)"
    flock "$lock_fd"
fi

recipe_hash="$(
    {
        printf '%s\n' "${packages[@]}"
        cat "$script_path"
    } | sha256sum | cut -d ' ' -f 1
)"

if [ "$force" = false ]; then
    existing_id="$(podman images --quiet --no-trunc --filter "label=$recipe_label=$recipe_hash" | head -n 1)"
    if [ -n "$existing_id" ]; then
        podman tag "$existing_id" "$image"
        log "$image is up to date (recipe $recipe_hash); use --force to rebuild"
        exit 0
    fi
fi

mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    mirror="$(find_mirror)"
fi
if [ -z "$mirror" ]; then
    die "no '$suite' Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d; set DEBIAN_MIRROR to a Debian mirror URL"
fi

work_dir="$(mktemp -d "${TMPDIR:-/var/tmp}/certfleet-testhost.XXXXXX")"
rootfs="$work_dir/rootfs"

cleanup() {
    local mount_point
    # A failed debootstrap can leave /proc or /sys mounted inside the root file
    # system. Unmount those first so rm cannot descend into the host's trees.
    awk -v prefix="$work_dir/" 'index($2, prefix) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r mount_point; do
            umount -l "$mount_point" || echo "build-image: warning: failed to unmount $mount_point" >&2
        done
    rm -rf --one-file-system "$work_dir"
}
trap cleanup EXIT

total_start="$(date +%s.%N)"
log "building $image from $mirror in $work_dir"

step_start="$(date +%s.%N)"
include="$(IFS=,; echo "${packages[*]}")"
if ! debootstrap --variant=minbase --include="$include" "$suite" "$rootfs" "$mirror" \
    >"$work_dir/debootstrap.out" 2>&1; then
    echo "build-image: error: debootstrap failed; last lines of its output:" >&2
    tail -n 30 "$work_dir/debootstrap.out" >&2
    if [ -f "$rootfs/debootstrap/debootstrap.log" ]; then
        echo "build-image: last lines of $rootfs/debootstrap/debootstrap.log:" >&2
        tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
    fi
    exit 1
fi
log "debootstrap took $(elapsed_since "$step_start") s"

step_start="$(date +%s.%N)"
# The collection's nginx role owns port 443, and no other site may listen.
rm -f "$rootfs/etc/nginx/sites-enabled/default"
for unit in "${masked_units[@]}"; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# With an empty machine-id, systemd in each container takes the container id
# that podman passes in, so every host gets its own. The id written during
# debootstrap would be shared by every host.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
# Downloaded .deb files are not needed at run time.
rm -f "$rootfs"/var/cache/apt/archives/*.deb
log "configuring the root file system took $(elapsed_since "$step_start") s"

step_start="$(date +%s.%N)"
new_id="$(
    tar -C "$rootfs" -c . | podman import \
        --change 'CMD ["/sbin/init"]' \
        --change 'STOPSIGNAL=SIGRTMIN+3' \
        --change "LABEL=$recipe_label=$recipe_hash" \
        - "$image"
)"
log "podman import took $(elapsed_since "$step_start") s"

# Remove older builds of the image. One that a container still uses stays and
# is removed by the next build after that container is gone.
for old_id in $(podman images --quiet --no-trunc --filter "label=$recipe_label" | sort -u); do
    [ "$old_id" = "$new_id" ] && continue
    if podman rmi "$old_id" >/dev/null 2>&1; then
        log "removed the older image $old_id"
    else
        log "kept the older image $old_id because a container still uses it"
    fi
done

log "built $image ($new_id) in $(elapsed_since "$total_start") s"
