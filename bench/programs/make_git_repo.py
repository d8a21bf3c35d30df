"""make_git_repo.py -- generate the repository the git workload reads.

    /usr/bin/python3 make_git_repo.py DIR FILES COMMITS

Creates DIR as a fresh git repository through `git fast-import` (fast, and
independent of the allocator under test: bench/run.py runs it once, with
nothing preloaded).  Every commit rewrites a few lines in about a tenth of
the FILES text files, so `git log -p` has real diffs to compute.  The
content is a deterministic function of the arguments.
"""
import os
import random
import subprocess
import sys


def main():
    target, files, commits = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(4242)
    subprocess.run(["git", "init", "-q", "-b", "main", target], check=True)
    contents = [[f"line {j} of file {i}: {rng.random():.12f}\n" for j in range(60)]
                for i in range(files)]
    chunks = []
    for c in range(commits):
        touched = range(files) if c == 0 else rng.sample(range(files), max(1, files // 10))
        chunks.append(f"commit refs/heads/main\n"
                      f"committer Bench <bench@example.invalid> {1700000000 + c} +0000\n")
        message = f"commit {c}\n"
        chunks.append(f"data {len(message)}\n{message}")
        for i in touched:
            lines = contents[i]
            for _ in range(3):
                lines[rng.randrange(len(lines))] = f"edit {c}: {rng.random():.12f}\n"
            if rng.random() < 0.3:
                lines.insert(rng.randrange(len(lines)), f"added in {c}\n")
            blob = "".join(lines).encode()
            chunks.append(f"M 100644 inline dir{i % 20}/file{i}.txt\ndata {len(blob)}\n")
            chunks.append(blob.decode() + "\n")
    stream = "".join(chunks).encode()
    subprocess.run(["git", "-C", target, "fast-import", "--quiet"], input=stream, check=True)
    subprocess.run(["git", "-C", target, "checkout", "-q", "main"], check=True)
    print(f"{target}: {files} files, {commits} commits", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    main()
