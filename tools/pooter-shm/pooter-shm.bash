# SPDX-License-Identifier: MIT
# bash completion for pooter-shm(1): commands, each command's options (and
# the URL options, every command's and pooter-shm's own), and broker names
# (those in /dev/shm, bare or as shm:NAME) where a command takes one.  A
# zk:// URL is not completed: its brokers are on other hosts.  Installed as
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
	local url_opts="--session-timeout --connect-timeout --auth"
	local cmd="" opts="" i=1

	COMPREPLY=()
	# The command: the first word past pooter-shm's own options.
	while ((i < COMP_CWORD)); do
		case ${COMP_WORDS[i]} in
		--session-timeout | --connect-timeout | --auth) ((i += 2)) ;;
		-*) ((i++)) ;;
		*)
			cmd=${COMP_WORDS[i]}
			break
			;;
		esac
	done
	case $prev in
	--session-timeout | --connect-timeout | --auth) return 0 ;;
	esac
	if [[ -z $cmd ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$commands --help --version $url_opts" -- "$cur")
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
		mapfile -t COMPREPLY < <(compgen -W "$opts $url_opts --help" -- "$cur")
	elif [[ $cmd == ls ]]; then
		# ls takes where to list: shm: (this machine) or a zk:// path
		[[ shm: == "$cur"* ]] && COMPREPLY=("shm:")
	elif [[ $cur == zk:* || ($prev == : && ${COMP_WORDS[COMP_CWORD - 2]} == zk) ]]; then
		return 0
	elif [[ $cur == shm:* ]]; then
		# ':' not in COMP_WORDBREAKS: the word is shm:NAME whole
		mapfile -t COMPREPLY < <(compgen -P shm: -W "$(_pooter_shm_brokers)" -- "${cur#shm:}")
	elif [[ $prev == : && ${COMP_WORDS[COMP_CWORD - 2]} == shm ]] ||
		[[ $cur == : && $prev == shm ]]; then
		# ':' in COMP_WORDBREAKS (the default): shm, :, NAME are words
		[[ $cur == : ]] && cur=""
		mapfile -t COMPREPLY < <(compgen -W "$(_pooter_shm_brokers)" -- "$cur")
	elif [[ $cmd != create ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_pooter_shm_brokers)" -- "$cur")
	fi
	return 0
}

complete -F _pooter_shm pooter-shm
