#!/usr/bin/env bash
# readme-figures.sh: copy the benchmarks' headline figures from benchmarks/results.md into README.md.
#
# Writes a compact table, one row per headline metric, each with the date of the results.md section
# it comes from, between these two lines of README.md (each on a line of its own):
#   <!-- figures:begin -->
#   <!-- figures:end -->
# Every value is read from results.md (the tables the benchmark scripts write), never typed here.
# A benchmark whose section is missing from results.md gets a "not run yet" row.
#
# Usage: scripts/readme-figures.sh [--check] [--readme PATH] [--results PATH]
#   --check  write nothing; exit 1 if README's block differs from what would be written (for CI).
#   --results defaults to $RESULTS_MD (as for the benchmark scripts), else benchmarks/results.md.
# Exit status: 0 written / up to date, 1 --check found a difference, 2 an error (markers missing,
# a row missing from a results.md section, …).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
README_MD=$REPO/README.md
RESULTS_MD=${RESULTS_MD:-$REPO/benchmarks/results.md}
CHECK=0
while (($#)); do
    case $1 in
        --check) CHECK=1 ;;
        --readme) README_MD=${2:?--readme needs a path}; shift ;;
        --results) RESULTS_MD=${2:?--results needs a path}; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "readme-figures: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

exec python3 - "$README_MD" "$RESULTS_MD" "$CHECK" <<'PY'
import difflib, os, re, sys

readme_path, results_path, check = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"

def fail(msg):
    print(f"readme-figures: error: {msg}", file=sys.stderr)
    sys.exit(2)

# --- results.md: sections, their dates and their main tables ------------------------------------
if not os.path.exists(results_path):
    fail(f"{results_path} does not exist: run a benchmark first (benchmarks/*.sh)")

def split_cells(line):
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [c.strip().replace("\\|", "|") for c in cells]

sections = {}
current = None
for line in open(results_path).read().split("\n"):
    if line.startswith("## "):
        current = sections.setdefault(line[3:].strip(), {"date": None, "rows": {}, "table_done": False})
        continue
    if current is None:
        continue
    if line.startswith("- Date:") and current["date"] is None:
        current["date"] = line.split(":", 1)[1].strip()
    elif line.startswith("|") and not current["table_done"]:
        cells = split_cells(line)
        if cells and cells[0] not in ("metric",) and not set(cells[0]) <= set("-: "):
            current["rows"][cells[0]] = cells
    elif current["rows"]:
        current["table_done"] = True   # only the section's first table (not "### Runs")

def row(section, metric):
    """The cells [metric, Tracer, baseline, target, result] of one metric, or None if the section is missing."""
    s = sections.get(section)
    if s is None:
        return None
    r = s["rows"].get(metric)
    if r is None:
        fail(f'{results_path}: section "## {section}" has no row "{metric}" '
             f"(did the benchmark's table change? update scripts/readme-figures.sh)")
    if len(r) != 5:
        fail(f'{results_path}: row "{metric}" of "## {section}" has {len(r)} cells, not 5')
    return r

def counted_cell(cell):
    """'1000000/1000000, 1000000/1000000' -> '1,000,000 / 1,000,000 in each of 2 runs' (or each run listed)."""
    pairs = [p.strip().split("/") for p in cell.split(",")]
    if not all(len(p) == 2 and p[0].isdigit() and p[1].isdigit() for p in pairs):
        return cell
    if len(set(map(tuple, pairs))) == 1:
        c, s = pairs[0]
        return f"{int(c):,} / {int(s):,} " + (f"in each of {len(pairs)} runs" if len(pairs) > 1 else "(1 run)")
    return ", ".join(f"{int(c):,} / {int(s):,}" for c, s in pairs)

# (section, script, metric row in results.md, README label, how the Tracer cell is shown)
FIGURES = [
    ("delivered-traffic tax", "delivered-tax.sh", "W/U time ratio, no drops (median of rounds)",
     "delivered packets, no drops: time per packet, watched / unwatched pod (baseline: the same ratio without Tracer)", None),
    ("delivered-traffic tax", "delivered-tax.sh", "W/U time ratio, drops elsewhere (median of rounds)",
     "delivered packets, drops elsewhere (another watched pod of the node): the same ratio (baseline: without Tracer)", None),
    ("scan", "scan.sh", "drops whose record has the pod's address, a reason and a culprit kind (% of sent, lowest run)",
     "port scan: drops reported with the pod's address, reason and culprit", None),
    ("scan", "scan.sh", "BPF ns per drop, all of Tracer's programs (median)",
     "port scan: BPF ns per drop, all of Tracer's programs (baseline: bpftrace counter)", None),
    ("drop-flood", "drop-flood.sh", "BPF ns per drop (median)",
     "drop flood: BPF ns per drop, drop probe (baseline: bpftrace counter)", None),
    ("drop-flood", "drop-flood.sh", "BPF ns per drop, all of Tracer's programs incl. sentinels (median)",
     "drop flood: BPF ns per drop, all of Tracer's programs (baseline: bpftrace counter)", None),
    ("drop-flood", "drop-flood.sh", "drops counted / sent (each run)",
     "drop flood: drops counted / sent", counted_cell),
]

lines = [
    BEGIN,
    "<!-- generated by scripts/readme-figures.sh from benchmarks/results.md: do not edit by hand -->",
    "",
    "| benchmark | figure | Tracer | baseline | target | result | measured |",
    "| --- | --- | --- | --- | --- | --- | --- |",
]
def md(cells):
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
for section, script, metric, label, show in FIGURES:
    r = row(section, metric)
    if r is None:
        lines.append(md([section, label, "not run yet", "-", "-", "-", f"run benchmarks/{script}"]))
        continue
    _, tracer, baseline, target, result = r
    lines.append(md([section, label, show(tracer) if show else tracer, baseline, target, result,
                     sections[section]["date"] or "?"]))
lines += ["", END]
block = lines

# --- README.md: replace what lies between the markers -------------------------------------------
if not os.path.exists(readme_path):
    fail(f"{readme_path} does not exist")
text = open(readme_path).read()
old = text.split("\n")
begins = [i for i, l in enumerate(old) if l.strip() == BEGIN]
ends = [i for i, l in enumerate(old) if l.strip() == END]
if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
    found = f"found {len(begins)} '{BEGIN}' and {len(ends)} '{END}' line(s)"
    fail(f"{readme_path} needs exactly one '{BEGIN}' line followed by one '{END}' line ({found}).\n"
         f"Put these two lines, each on a line of its own, where the figures belong (e.g. in README's\n"
         f"'## Benchmark' section), then rerun:\n    {BEGIN}\n    {END}")
b, e = begins[0], ends[0]
current = old[b:e + 1]
if check:
    if current == block:
        print(f"readme-figures: {readme_path} is up to date")
        sys.exit(0)
    print(f"readme-figures: {readme_path}'s figures differ from {results_path}; run scripts/readme-figures.sh", file=sys.stderr)
    sys.stderr.writelines(l + "\n" for l in difflib.unified_diff(current, block, "README.md (now)", "README.md (would be)", lineterm=""))
    sys.exit(1)
new = old[:b] + block + old[e + 1:]
if new == old:
    print(f"readme-figures: {readme_path} is up to date")
    sys.exit(0)
tmp = f"{readme_path}.tmp.{os.getpid()}"
with open(tmp, "w") as f:
    f.write("\n".join(new))
os.chmod(tmp, os.stat(readme_path).st_mode & 0o7777)
os.replace(tmp, readme_path)
print(f"readme-figures: wrote {len(FIGURES)} figures into {readme_path}")
PY
