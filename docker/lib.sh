# docker/lib.sh - helpers shared by base-image.sh and smoke.sh (sourced, not run).
#
# They read the host's apt configuration so that image builds use exactly the mirror and
# proxy the host uses: on a machine that reaches Debian only through a local mirror or a
# proxy, that is the only way a build can install packages. Nothing here names a mirror.

# log MESSAGE...: one progress line on stderr, prefixed with the calling script's name.
log() {
    printf '%s: %s\n' "${LOG_TAG:-docker}" "$*" >&2
}

# apt_source_files: every apt source file the host has enabled, classic ones first.
# APT_ETC_DIR (default /etc/apt) lets a test point it at another tree.
apt_source_files() {
    local etc=${APT_ETC_DIR:-/etc/apt} f
    [ -f "$etc/sources.list" ] && echo "$etc/sources.list"
    for f in "$etc"/sources.list.d/*.list "$etc"/sources.list.d/*.sources; do
        [ -f "$f" ] && echo "$f"
    done
    return 0
}

# apt_debian_mirror [SUITE]: the URI of the first enabled "deb" source that carries SUITE
# (default bookworm) with the main component, read from classic one-line files and from
# deb822 .sources files. Prints nothing when there is none.
apt_debian_mirror() {
    local suite=${1:-bookworm} f
    for f in $(apt_source_files); do
        case "$f" in
        *.list)
            # deb [options] URI SUITE COMPONENT...
            sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
                awk -v s="$suite" '$1 == "deb" && $3 == s {
                    for (i = 4; i <= NF; i++) if ($i == "main") { print $2; exit }
                }'
            ;;
        *.sources)
            # Stanzas separated by blank lines; fields may be folded onto following lines.
            awk -v s="$suite" '
                function flush() {
                    if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " s " ") &&
                        (" " comps " ") ~ / main / && enabled !~ /^(no|false|0)$/) {
                        split(uris, u, " "); print u[1]; found = 1; exit
                    }
                    types = suites = comps = uris = enabled = ""; last = ""
                }
                /^#/ { next }
                /^[ \t]*$/ { flush(); next }
                /^[ \t]/ { v = $0; sub(/^[ \t]+/, "", v); add(last, v); next }
                {
                    k = tolower($0); sub(/:.*/, "", k)
                    v = $0; sub(/^[^:]*:[ \t]*/, "", v); last = k; add(k, v)
                }
                function add(key, val) {
                    if (key == "types") types = types " " val
                    else if (key == "suites") suites = suites " " val
                    else if (key == "components") comps = comps " " val
                    else if (key == "uris") uris = uris " " val
                    else if (key == "enabled") enabled = val
                }
                END { if (!found) flush() }' "$f"
            ;;
        esac
    done | head -n 1
}

# apt_proxy SCHEME: the host apt's proxy for SCHEME (http or https), empty when none or
# when it is "DIRECT". Falls back to the usual environment variables.
apt_proxy() {
    local scheme=${1:-http} p=""
    eval "$(apt-config shell p "Acquire::${scheme}::Proxy" 2>/dev/null)"
    if [ -z "$p" ]; then
        if [ "$scheme" = https ]; then p=${https_proxy:-${HTTPS_PROXY:-}}; else p=${http_proxy:-${HTTP_PROXY:-}}; fi
    fi
    # apt's explicit "no proxy" wins over the environment.
    case "$p" in DIRECT | direct | false) p="" ;; esac
    printf '%s' "$p"
}

# apt_sources_list_text: the host's enabled one-line sources (sources.list, *.list), and
# apt_sources_deb822_text: its deb822 stanzas (*.sources). They become the APT_SOURCES_LIST
# and APT_SOURCES build arguments, which the Dockerfiles install in place of the image's own.
apt_sources_list_text() {
    local f
    for f in $(apt_source_files); do
        case "$f" in
        *.list) sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' "$f" ;;
        esac
    done
}
apt_sources_deb822_text() {
    local f
    for f in $(apt_source_files); do
        case "$f" in
        *.sources) grep -v '^#' "$f"; echo ;;
        esac
    done
}

# apt_conf_text: the host apt settings a build needs to read the same mirror: the release-file
# date checks (a snapshot mirror serves Release files whose Valid-Until has passed, and hosts
# that use one turn the check off) and TLS verification switches. One apt.conf statement per
# line. Proxies are not here: they travel as the http_proxy/https_proxy build arguments,
# which docker keeps out of the image history.
apt_conf_text() {
    apt-config dump 2>/dev/null |
        grep -E '^Acquire::(https?::)?Check-(Valid-Until|Date) |^Acquire::https?::Verify-(Peer|Host) ' || true
}
