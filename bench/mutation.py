"""Mutation testing of one or more modules with their own tests (mutmut 3), see bench/mutation.sh.

For each module: copy scanner/, probes/, tests/ and pyproject.toml into a fresh temporary
directory, add a `[tool.mutmut]` section that mutates that one file and selects only the tests
listed for it in bench/mutation_targets.toml, run `mutmut run` there, read the verdicts from
mutmut's meta file, print killed/timeout/survived/total and the score, list the survivors, and
delete the directory. Nothing is written into the work tree, so two runs (in one work tree or
in several) never share state.

Cheaper runs: the tests run under the pytest plug-in tests/mutation_run.py (`-p mutation_run`):
fastest tests first (by the durations of mutmut's clean run; mutmut stops at the first failure),
and with `--examples N` (default 20; 0 = the tests' own numbers) every hypothesis test runs at
most N examples, derandomized, no deadline (NASSCAN_MUTATION_EXAMPLES=N in mutmut's environment).
The normal suite never loads the plug-in. Scores are only comparable with the same `--examples`.

Re-running only some mutants (to iterate on tests): `--mutant NAME` (repeatable; a mutmut
name or a glob, e.g. 'scanner.protocols.listing.x__items__*'), or `--rerun FILE` to re-run the
mutants that were not killed in a previous run's `--json FILE`. Such a run prints the verdicts
of those mutants only (and with `--rerun`, the previous full run's counts updated by them,
marked as merged); a module's score for bench/RESULTS.md comes from a full run.

Score = (killed + timeout) / total. "no tests" (no selected test reaches the mutant) and
"suspicious" count against the score like survivors. Mutants named under `equivalent` in the
mapping file (each with a reason; they are listed in bench/RESULTS.md too) are shown and left
out of the second score column.
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "bench" / "mutation_targets.toml"
COPIED = ("scanner", "probes", "tests", "pyproject.toml")
# mutmut's exit-code verdicts (mutmut/stats.py); anything else is "other"
KILLED = {1, 3}
TIMEOUT = {36, -24, 24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


@dataclass
class Target:
    module: str  # a path relative to ROOT, e.g. scanner/targets.py
    tests: list[str]
    equivalent: dict[str, str] = field(default_factory=dict)
    deselect: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    module: str
    seconds: float
    verdicts: dict[str, str]  # mutant name -> killed/timeout/survived/no tests/other
    equivalent: dict[str, str]

    def count(self, verdict: str, *, skip_equivalent: bool = False) -> int:
        return sum(
            1
            for name, v in self.verdicts.items()
            if v == verdict and not (skip_equivalent and name in self.equivalent)
        )

    def total(self, *, skip_equivalent: bool = False) -> int:
        if not skip_equivalent:
            return len(self.verdicts)
        return sum(1 for name in self.verdicts if name not in self.equivalent)

    def score(self, *, skip_equivalent: bool = False) -> float:
        total = self.total(skip_equivalent=skip_equivalent)
        caught = self.count("killed", skip_equivalent=skip_equivalent) + self.count(
            "timeout", skip_equivalent=skip_equivalent
        )
        return 100.0 * caught / total if total else 100.0

    def survivors(self) -> list[str]:
        left = [n for n, v in self.verdicts.items() if v not in ("killed", "timeout")]
        return sorted(left, key=natural)


def natural(name: str) -> tuple[str, int]:
    """`x_f__mutmut_9` before `x_f__mutmut_10`."""
    head, _, num = name.rpartition("_")
    return (head, int(num)) if num.isdigit() else (name, 0)


def module_path(arg: str) -> str:
    """`scanner/targets.py`, `scanner.targets` or `./scanner/targets.py` -> `scanner/targets.py`."""
    arg = arg.strip()
    if arg.endswith(".py") or "/" in arg:
        path = Path(arg)
        if path.is_absolute():
            path = path.resolve().relative_to(ROOT)
        return path.as_posix().removeprefix("./")
    return arg.replace(".", "/") + ".py"


def load_targets(path: Path = TARGETS) -> dict[str, Target]:
    data = tomllib.loads(path.read_text("utf-8"))
    out: dict[str, Target] = {}
    for module, spec in data.items():
        tests = [str(t) for t in spec.get("tests", [])]
        equivalent = {str(k): str(v) for k, v in spec.get("equivalent", {}).items()}
        deselect = [str(d) for d in spec.get("deselect", [])]
        out[module] = Target(module, tests, equivalent, deselect)
    return out


def expand_tests(target: Target) -> list[str]:
    files: list[str] = []
    for pattern in target.tests:
        matched = sorted(glob.glob(pattern, root_dir=ROOT))
        files.extend(m for m in matched if m not in files)
    return files


def verdict(exit_code: int | None) -> str:
    if exit_code in KILLED:
        return "killed"
    if exit_code in TIMEOUT:
        return "timeout"
    if exit_code in SURVIVED:
        return "survived"
    if exit_code in NO_TESTS:
        return "no tests"
    if exit_code is None:
        return "not checked"
    return "other"


def prepare(workdir: Path, target: Target, tests: list[str]) -> None:
    deselect = [arg for test_id in target.deselect for arg in ("--deselect", test_id)]
    plugin = ["-p", "mutation_run"]  # tests/mutation_run.py: fast tests first, capped examples
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", "*.egg-info", "build")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, workdir / name, ignore=ignore)
        else:
            shutil.copy2(src, workdir / name)
    section = [
        "",
        "[tool.mutmut]",
        'source_paths = ["scanner", "probes"]',
        f"only_mutate = {json.dumps([target.module])}",
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        # quiet runs; the temporary tree has no git history to compare with
        f"pytest_add_cli_args = {json.dumps(['-q', '-p', 'no:cacheprovider', *plugin, *deselect])}",
        "use_git_change_detection = false",
        # a mutant that loops (a broken cycle walk) is a timeout after 4x its tests' CPU time
        # (mutmut's default, 15x, spends minutes of CPU on each of them)
        "timeout_multiplier = 4.0",
        "",
    ]
    with (workdir / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write("\n".join(section))


def run_mutmut(
    workdir: Path, jobs: int, limit: float, log: Path, examples: int, names: list[str]
) -> int:
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *names]
    env = dict(
        os.environ, PYTHONDONTWRITEBYTECODE="1", NASSCAN_MUTATION_EXAMPLES=str(max(examples, 0))
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            return proc.wait(timeout=limit)
        except BaseException:
            # our own process group only (start_new_session above)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise


def read_verdicts(workdir: Path, module: str) -> dict[str, str]:
    meta = workdir / "mutants" / (module + ".meta")
    data = json.loads(meta.read_text("utf-8"))
    codes: dict[str, int | None] = data["exit_code_by_key"]
    return {name: verdict(code) for name, code in codes.items()}


def diff_of(workdir: Path, name: str) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return res.stdout.strip()


def module_names(module: str, names: list[str]) -> list[str]:
    """The mutant names (or globs) of `names` that belong to `module` (a path)."""
    prefix = module.removesuffix(".py").replace("/", ".") + "."
    return [n for n in names if n.startswith(prefix) and "." not in n[len(prefix) :]]


def run_one(target: Target, args: argparse.Namespace, names: list[str]) -> Outcome:
    tests = expand_tests(target)
    if not tests:
        raise SystemExit(f"{target.module}: no test file matches {target.tests}")
    stem = Path(target.module).stem
    workdir = Path(tempfile.mkdtemp(prefix=f"nasscan-mutation-{stem}-"))
    log = workdir / "mutmut.log"
    print(f"== {target.module}: {len(tests)} test files, work dir {workdir}", flush=True)
    start = time.monotonic()
    try:
        prepare(workdir, target, tests)
        rc = run_mutmut(workdir, args.jobs, args.limit, log, args.examples, names)
        meta = workdir / "mutants" / (target.module + ".meta")
        if rc != 0 or not meta.exists():
            tail = log.read_text("utf-8", errors="replace")[-4000:]
            raise SystemExit(f"{target.module}: mutmut failed (exit {rc}); end of its log:\n{tail}")
        verdicts = read_verdicts(workdir, target.module)
        if names:  # only the mutants asked for were run
            verdicts = {
                n: v for n, v in verdicts.items() if any(fnmatch.fnmatchcase(n, g) for g in names)
            }
        outcome = Outcome(target.module, time.monotonic() - start, verdicts, target.equivalent)
        for name in outcome.survivors():
            reason = target.equivalent.get(name)
            mark = f"  (equivalent: {reason})" if reason else ""
            print(f"   {outcome.verdicts[name]:9} {name}{mark}")
            if args.diff:
                print("\n".join("      " + line for line in diff_of(workdir, name).splitlines()))
        unknown = sorted(set(target.equivalent) - set(outcome.verdicts))
        for name in unknown:
            print(f"   (listed as equivalent but no such mutant now: {name})")
        return outcome
    finally:
        if args.keep:
            print(f"   kept {workdir} (cd there; `python -m mutmut browse`)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def table(outcomes: list[Outcome]) -> str:
    head = (
        "| module | killed | timeout | survived | no tests | other | total | score "
        "| equivalent | score without them | seconds |"
    )
    rows = [head, "|" + "---|" * 11]
    for o in outcomes:
        other = o.total() - sum(o.count(v) for v in ("killed", "timeout", "survived", "no tests"))
        rows.append(
            f"| `{o.module}` | {o.count('killed')} | {o.count('timeout')} | {o.count('survived')} "
            f"| {o.count('no tests')} | {other} | {o.total()} | {o.score():.1f}% "
            f"| {o.total() - o.total(skip_equivalent=True)} "
            f"| {o.score(skip_equivalent=True):.1f}% | {o.seconds:.0f} |"
        )
    return "\n".join(rows)


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # run_mutmut then kills mutmut's process group


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("modules", nargs="*", help="e.g. scanner/targets.py or scanner.targets")
    p.add_argument("--all", action="store_true", help="every module in the mapping file")
    p.add_argument("--list", action="store_true", help="print the mapping and exit")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="mutants in parallel")
    p.add_argument("--limit", type=float, default=3600.0, help="seconds per module at most")
    p.add_argument("--diff", action="store_true", help="print each survivor's diff")
    p.add_argument("--keep", action="store_true", help="keep the temporary work dirs")
    p.add_argument("--json", type=Path, help="also write the verdicts to this file")
    p.add_argument("--fail-under", type=float, default=0.0, help="exit 1 below this score")
    p.add_argument(
        "--examples", type=int, default=20,
        help="at most this many examples per hypothesis test (0: the tests' own numbers)",
    )
    p.add_argument(
        "--mutant", action="append", default=[], help="run only this mutant (a glob; repeatable)"
    )
    p.add_argument("--rerun", type=Path, help="re-run the mutants a previous --json left alive")
    args = p.parse_args(argv)

    targets = load_targets()
    if args.list:
        for t in targets.values():
            print(f"{t.module}: {' '.join(expand_tests(t)) or '(no test file matches)'}")
        return 0
    modules = list(targets) if args.all else [module_path(m) for m in args.modules]
    if not modules:
        p.error("name at least one module (or --all)")
    missing = [m for m in modules if m not in targets]
    if missing:
        p.error(f"not in {TARGETS.relative_to(ROOT)}: {', '.join(missing)} (add its tests there)")

    previous: dict[str, dict[str, str]] = {}
    names = list(args.mutant)
    if args.rerun:
        previous = json.loads(args.rerun.read_text("utf-8"))
        names += [
            n
            for m in modules
            for n, v in previous.get(m, {}).items()
            if v not in ("killed", "timeout")
        ]
        if not names:
            print(f"{args.rerun}: every mutant of {', '.join(modules)} was killed")
            return 0
    outcomes: list[Outcome] = []
    for m in modules:
        own = module_names(m, names)
        if names and not own:
            print(f"== {m}: no mutant named for it, skipped")
            continue
        outcomes.append(run_one(targets[m], args, own))
    print()
    if names:
        print(f"only the named mutants (--mutant/--rerun, --examples {args.examples}):")
    print(table(outcomes))
    merged: list[Outcome] = []
    if previous:
        merged = [
            Outcome(o.module, o.seconds, {**previous.get(o.module, {}), **o.verdicts}, o.equivalent)
            for o in outcomes
        ]
        print(f"\nmerged with {args.rerun} (NOT a full run; seconds are the re-run's):")
        print(table(merged))
    if args.json:
        args.json.write_text(
            json.dumps({o.module: o.verdicts for o in merged or outcomes}, indent=1, sort_keys=True)
            + "\n"
        )
    low = [o.module for o in outcomes if o.score(skip_equivalent=True) < args.fail_under]
    if low:
        print(f"below {args.fail_under}%: {', '.join(low)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
