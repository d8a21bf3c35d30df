#!/bin/bash
# git.sh -- git init, add and commit 200 generated files, log, fsck: the same
# output under LD_PRELOAD.  Author, committer and dates are fixed so both
# runs create the same commit hash.
. "${top_srcdir:?the harness exports top_srcdir}/tests/preload/common.sh"

git_scenario() {
    export GIT_AUTHOR_NAME=pym GIT_AUTHOR_EMAIL=pym@example.org
    export GIT_COMMITTER_NAME=pym GIT_COMMITTER_EMAIL=pym@example.org
    export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
    export GIT_CONFIG_NOSYSTEM=1 HOME="$PWD"
    set -e
    git init -q -b main repo
    cd repo
    mkdir -p src/a src/b
    awk 'BEGIN { for (i = 1; i <= 200; i++) {
                     file = sprintf("src/%s/%03d.txt", i % 2 ? "b" : "a", i)
                     for (j = i; j <= i * 20; j++) print "line " i ": " j > file
                     close(file) } }'
    git add .
    git commit -q -m "200 generated files"
    sed -i 's/line 1:/LINE 1:/' src/b/001.txt
    git commit -q -am "edit one file"
    git log --stat --format='%H %s' | head -50
    git fsck --no-progress --full
    git count-objects
}
preload_test git git git_scenario
