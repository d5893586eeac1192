#!/usr/bin/env bash
# run-default.sh (`make run`): build the default packages into a local repository, install them into
# ./data and start the engine on it.
#
#   tools/run-default.sh [LANG...]      default languages: bash python (PISTON_DEFAULT_LANGS)
#
# Packages are built by tools/mkrepo into build/repo (skipped when up to date; debs cached in
# /var/cache/piston-debs), installed with `piston ppman --data ./data install` (a package rebuilt since
# it was installed is reinstalled), then `piston serve` runs in the foreground with
# PISTON_DATA_DIRECTORY=./data and PISTON_REPO_URL=build/repo/index, so more languages can be installed
# from the same local repository (`tools/mkrepo LANG` first builds them).
set -euo pipefail
cd "$(dirname "$0")/.."
langs=("$@")
[ ${#langs[@]} -gt 0 ] || read -r -a langs <<< "${PISTON_DEFAULT_LANGS:-bash python}"
data=${PISTON_DATA_DIRECTORY:-$PWD/data}
repo=$PWD/build/repo
[ -x ./piston ] || make piston

tools/mkrepo -o "$repo" "${langs[@]}"
export PISTON_DATA_DIRECTORY="$data" PISTON_REPO_URL="$repo/index"
mkdir -p "$data/packages"

ppman_ready() { local o; o=$(./piston ppman --data "$data" list 2>&1 || true); [[ "$o" != *"not built yet"* ]]; }

# Until `piston ppman` exists: the same layout by hand (staging directory, marker last, rename).
install_by_hand() { # lang version file
	local dest="$data/packages/$1/$2" stage="$data/packages/.staging-$1-$2-$$"
	rm -rf "$stage"; mkdir -p "$stage" "$data/packages/$1"
	tar -xzf "$3" -C "$stage" --no-same-owner
	: > "$stage/.ppman-installed"
	rm -rf "$dest"; mv "$stage" "$dest"
}

for l in "${langs[@]}"; do
	for f in "$repo/$l"-[0-9]*.pkg.tar.gz; do
		[ -f "$f" ] || continue
		n=$(basename "$f" .pkg.tar.gz); ver=${n#"$l"-}
		dest="$data/packages/$l/$ver"
		if [ -f "$dest/.ppman-installed" ] && [ ! "$f" -nt "$dest/.ppman-installed" ]; then
			echo "run-default: $l $ver is installed"
			continue
		fi
		echo "run-default: installing $l $ver"
		if ppman_ready; then
			[ ! -e "$dest" ] || ./piston ppman --data "$data" uninstall "$l=$ver"
			./piston ppman --data "$data" install "$l=$ver"
		else
			install_by_hand "$l" "$ver" "$f"
		fi
	done
done

echo "run-default: starting piston serve (data $data, repository $PISTON_REPO_URL)"
exec ./piston serve
