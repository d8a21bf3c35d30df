#!/bin/bash
# git.sh -- git init, add and commit 200 generated files, log, fsck: the same
# output under LD_PRELOAD.  Author, committer and dates are fixed so both
# runs create the same commit hash.
. "$top_srcdir/tests/preload/common.sh"

git_scenario() {
    export GIT_AUTHOR_NAME=pym GIT_AUTHOR_EMAIL=pym@example.org
    export GIT_COMMITTER_NAME=pym GIT_COMMITTER_EMAIL=pym@example.org
    export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
    export GIT_CONFIG_NOSYSTEM=1 HOME="$PWD"
    set -e
    git init -q -b main repo
    cd repo
    mkdir -p src/a src/b
    for i in $(seq 1 200); do
        seq "$i" $((i * 20)) | sed "s/^/line $i: /" >"src/$((i % 2 == 0 ? 0 : 1))$i.txt"
    done
    mv src/0*.txt src/a/ && mv src/1*.txt src/b/
    git add .
    git commit -q -m "200 generated files"
    sed -i 's/line 1:/LINE 1:/' src/b/11.txt
    git commit -q -am "edit one file"
    git log --stat --format='%H %s' | head -50
    git fsck --no-progress --full
    git count-objects
}
preload_test git git git_scenario
