#!/usr/bin/env bash
# Fails when a comment cites a section of docs/hyperv-guest-facts.md that the
# document does not have.  "facts §8.2" in a comment means section 8.2 of that
# file; a citation is only worth something while it resolves.
#
# In source files (*.c, *.h, *.sh, *.asl, Makefile) every §N is a facts
# citation: the code cites nothing else with §, and a citation often wraps
# ("(facts\n * §3.4)") or lists several ("facts §7.1, §7.2", "§1-§3").  In
# Markdown only "facts §N" counts, since other documents number their own
# sections.  The sections are the document's numbered headings ("## 8." and
# "### 8.2").
#
# Prints FILE:LINE for every unknown section and exits 1 if there is any.
set -u
cd "$(dirname "$0")/.." || exit 2
doc=docs/hyperv-guest-facts.md
[ -f "$doc" ] || { echo "check-facts: $doc is missing"; exit 1; }

# The files to read: git's list (tracked and new, not ignored), or every
# file outside build directories when this is not a git checkout.
files() {
	if git rev-parse --git-dir >/dev/null 2>&1; then
		git ls-files --cached --others --exclude-standard -- "$@"
	else
		local pat args=()
		for pat in "$@"; do
			case $pat in :*) ;; *) args+=(-o -path "./$pat" -o -name "$pat") ;; esac
		done
		find . -path './build*' -prune -o -type f \( -false "${args[@]}" \) -print |
			sed 's|^\./||' | grep -vxF "$doc"
	fi
}

sections=$(sed -nE 's/^#{2,4} ([0-9]+(\.[0-9]+)*)[. ].*/\1/p' "$doc" | tr '\n' ' ')
{
	files '*.c' '*.h' '*.sh' '*.asl' Makefile 'qemu/patches/*' |
		xargs -r grep -nEo '§[0-9]+(\.[0-9]+)*' /dev/null
	files '*.md' ':!:'"$doc" |
		xargs -r grep -nEio 'facts §[0-9]+(\.[0-9]+)*' /dev/null
} | awk -v sections="$sections" '
BEGIN { n = split(sections, s, " "); for (i = 1; i <= n; i++) have[s[i]] = 1 }
{
	cite = $0; sub(/^.*§/, "", cite)
	loc = $0; sub(/:[^:]*$/, "", loc)
	cited++
	if (!(cite in have)) { printf "%s: facts §%s: no such section in '"$doc"'\n", loc, cite; bad++ }
}
END {
	if (bad) { printf "check-facts: %d citation(s) of %d point nowhere\n", bad, cited; exit 1 }
	printf "check-facts: %d citations, every section exists\n", cited
}'
