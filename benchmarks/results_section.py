#!/usr/bin/env python3
"""Replace one benchmark's section of benchmarks/results.md, keeping the others.

Usage: results_section.py RESULTS_MD SECTION_FILE   (or write_section(), from report.py)

SECTION_FILE holds the new section; its first line is its level-2 heading ("## drop-flood").
In RESULTS_MD a section starts at a line beginning with "## " and runs until the next such line
(deeper headings, "### ", stay inside it). The section with the same heading is replaced in place;
a new heading is appended. The file always starts with the standard header below.
"""
import os
import sys

HEADER = [
    "# Benchmark results",
    "",
    "Each section is written by its own script in `benchmarks/` (named in the section), which replaces only that section.",
    "",
]


def split_sections(lines):
    """[(heading, [lines])] for every '## ' section; what precedes the first one is dropped."""
    sections = []
    for line in lines:
        if line.startswith("## "):
            sections.append((line.strip(), [line]))
        elif sections:
            sections[-1][1].append(line)
    return sections


def write_section(md_path, new):
    """Replace (or add) in md_path the section whose lines are `new` (its first line its '## ' heading)."""
    new = "\n".join(new).rstrip("\n").split("\n")
    if not new[0].startswith("## "):
        sys.exit(f"results_section.py: a section must start with a '## ' heading, not {new[0]!r}")
    heading = new[0].strip()
    if sum(1 for l in new if l.startswith("## ")) != 1:
        sys.exit("results_section.py: a section must hold exactly one '## ' heading (use '### ' inside)")

    old = open(md_path).read().split("\n") if os.path.exists(md_path) else []
    sections = split_sections(old)
    # Each section ends with exactly one blank line.
    sections = [(h, body[: len(body) - next(i for i, l in enumerate(reversed(body)) if l.strip())] + [""])
                for h, body in sections]
    new_body = new + [""]
    for i, (h, _) in enumerate(sections):
        if h == heading:
            sections[i] = (heading, new_body)
            break
    else:
        sections.append((heading, new_body))

    text = "\n".join(HEADER + [l for _, body in sections for l in body]).rstrip("\n") + "\n"
    tmp = f"{md_path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, md_path)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: results_section.py RESULTS_MD SECTION_FILE")
    md_path, section_path = sys.argv[1:]
    write_section(md_path, open(section_path).read().split("\n"))


if __name__ == "__main__":
    main()
