#!/bin/sh
# onesp: OpenNebula KVM host probe (host/system, run by the monitor on each hypervisor).
#
# Prints this host's StorPool client id and cluster, as storpool_confget reports them, in
# OpenNebula's template syntax; oned merges them into the host's TEMPLATE, where the drivers'
# ONEHOST client-id source reads SP_OURID (the attribute the bash addon's probe writes):
#
#   SP_OURID="3"
#   SP_CLUSTER_ID="a.b"
#   SP_CLUSTER_NAME="lab"
#
# A value that is unknown or not plainly valid (SP_OURID outside 1..4095, a name with other
# characters than letters, digits and _ . : -) is left out rather than printed empty, so it
# never overwrites an SP_OURID set by hand with onehost update. It always exits 0: a failing
# host/system probe would make the monitor drop every other probe's data for this host.

PATH=/usr/sbin:/sbin:/usr/bin:/bin:${PATH}
export PATH
LC_ALL=C
export LC_ALL

if command -v storpool_confget >/dev/null 2>&1; then
    if command -v timeout >/dev/null 2>&1; then
        conf=$(timeout 10 storpool_confget 2>/dev/null </dev/null) || conf=""
    else
        conf=$(storpool_confget 2>/dev/null </dev/null) || conf=""
    fi
else
    conf=""
fi

printf '%s\n' "${conf}" | awk '
    {
        eq = index($0, "=")
        if (eq == 0) next
        key = substr($0, 1, eq - 1)
        if (key != "SP_OURID" && key != "SP_CLUSTER_ID" && key != "SP_CLUSTER_NAME") next
        value = substr($0, eq + 1)
        sub(/^[ \t]+/, "", value)
        sub(/[ \t\r]+$/, "", value)
        if (value ~ /^".*"$/ || value ~ /^\047.*\047$/) value = substr(value, 2, length(value) - 2)
        seen[key] = value
    }
    END {
        id = seen["SP_OURID"]
        if (id ~ /^[0-9]+$/ && length(id) <= 4 && id + 0 >= 1 && id + 0 <= 4095) printf "SP_OURID=\"%d\"\n", id + 0
        if (seen["SP_CLUSTER_ID"] ~ /^[A-Za-z0-9_.:-]+$/ && length(seen["SP_CLUSTER_ID"]) <= 128)
            printf "SP_CLUSTER_ID=\"%s\"\n", seen["SP_CLUSTER_ID"]
        if (seen["SP_CLUSTER_NAME"] ~ /^[A-Za-z0-9_.:-]+$/ && length(seen["SP_CLUSTER_NAME"]) <= 128)
            printf "SP_CLUSTER_NAME=\"%s\"\n", seen["SP_CLUSTER_NAME"]
    }'
exit 0
