# SPDX-License-Identifier: MIT
# bash completion for pooter-shm(1): commands, each command's options, and
# broker names (those in /dev/shm) where a command takes one.  Installed as
# share/bash-completion/completions/pooter-shm; needs nothing but bash.

_pooter_shm_brokers()
{
	local f names=()
	for f in /dev/shm/pooter.*; do
		[[ -e $f ]] && names+=("${f#/dev/shm/pooter.}")
	done
	printf '%s\n' "${names[@]}"
}

_pooter_shm()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="ls show watch create rm set cancel emit consume check gc metrics help"
	local cmd=${COMP_WORDS[1]:-} opts=""

	COMPREPLY=()
	if ((COMP_CWORD == 1)); then
		mapfile -t COMPREPLY < <(compgen -W "$commands --help --version" -- "$cur")
		return 0
	fi
	case $cmd in
	ls) opts="--json" ;;
	show) opts="--json" ;;
	watch) opts="--interval --count --json" ;;
	create) opts="--emitters --consumers --payload --depth --timeout --quorum --mode --json" ;;
	rm) opts="--force --abandoned --older-than --dry-run --json" ;;
	set) opts="--timeout --json" ;;
	cancel) opts="--json" ;;
	emit) opts="--as --data --file --wait-join --json" ;;
	consume) opts="--as --count --follow --timeout --notices --json" ;;
	check) opts="--json" ;;
	gc) opts="--json" ;;
	metrics) opts="--output" ;;
	help)
		mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
		return 0
		;;
	*) return 0 ;;
	esac
	case $prev in
	-f | --file | -o | --output)
		if [[ $cmd != rm ]]; then
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0
		fi
		;;
	--interval | --count | --emitters | --consumers | --payload | --depth | \
		--timeout | --quorum | --mode | --as | --data | --older-than)
		return 0 ;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts --help" -- "$cur")
	elif [[ $cmd != create ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_pooter_shm_brokers)" -- "$cur")
	fi
	return 0
}

complete -F _pooter_shm pooter-shm
