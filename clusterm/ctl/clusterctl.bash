# bash completion for clusterctl(1): commands, subcommands, options, and
# node names (asked of clusterm with "clusterctl nodes get -j") after the
# node and nodes commands that take them.

_clusterctl_nodes()
{
	local args=() i
	# Pass on where clusterm is and how to log in, as typed.
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-u|--url|--token-file|--cacert|--cert|--key)
			args+=("${COMP_WORDS[i]}" "${COMP_WORDS[i + 1]}")
			;;
		--url=*|--token-file=*|--cacert=*|--cert=*|--key=*)
			args+=("${COMP_WORDS[i]}")
			;;
		esac
	done
	"${COMP_WORDS[0]}" "${args[@]}" nodes get -j 2>/dev/null |
		grep -o '"name": *"[^"]*"' | sed 's/^"name": *"//; s/"$//'
}

_clusterctl()
{
	local cur prev words=() i w
	local global_opts="-h --help -j --json -u --url --token-file --cacert --cert --key --version"
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}

	case $prev in
	-u|--url|-e|--extra-vars|--node|--since|--limit)
		return 0
		;;
	--token-file|--cacert|--cert|--key)
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0
		;;
	-g|--host-group)
		COMPREPLY=($(compgen -W "service-master service-worker" -- "$cur"))
		return 0
		;;
	esac

	# The words typed so far, options and their values left out.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-u|--url|-e|--extra-vars|-g|--host-group|--token-file|--cacert|--cert|--key|--node|--since|--limit)
			((i++))
			;;
		-*)
			;;
		*)
			words+=("$w")
			;;
		esac
	done

	if [[ $cur == -* ]]; then
		local opts=$global_opts
		case "${words[0]} ${words[1]}" in
		"node commission"*|"node update"*|"nodes commission"*|"nodes update"*)
			opts+=" -e --extra-vars -g --host-group" ;;
		"node decommission"*|"nodes decommission"*|"global set"*|discover*)
			opts+=" -e --extra-vars" ;;
		"job get"*|"job log"*)
			opts+=" -f --follow" ;;
		events*)
			opts+=" --node --since --limit" ;;
		esac
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return 0
	fi

	local cmds="node nodes global job jobs events reporters cluster discover config help"
	case ${#words[@]} in
	0)
		COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
		return 0
		;;
	1)
		case ${words[0]} in
		node) COMPREPLY=($(compgen -W "commission decommission update get votes forget" -- "$cur")) ;;
		nodes) COMPREPLY=($(compgen -W "commission decommission update get" -- "$cur")) ;;
		global) COMPREPLY=($(compgen -W "get set" -- "$cur")) ;;
		job) COMPREPLY=($(compgen -W "get log cancel" -- "$cur")) ;;
		config) COMPREPLY=($(compgen -W "get set" -- "$cur")) ;;
		help) COMPREPLY=($(compgen -W "$cmds" -- "$cur")) ;;
		esac
		return 0
		;;
	esac

	case "${words[0]} ${words[1]}" in
	"node "*)
		[[ ${#words[@]} -eq 2 ]] &&
			COMPREPLY=($(compgen -W "$(_clusterctl_nodes)" -- "$cur"))
		;;
	"nodes "*)
		COMPREPLY=($(compgen -W "$(_clusterctl_nodes)" -- "$cur"))
		;;
	"job get")
		[[ ${#words[@]} -eq 2 ]] && COMPREPLY=($(compgen -W "active last" -- "$cur"))
		;;
	"config set")
		[[ ${#words[@]} -eq 2 ]] && COMPREPLY=($(compgen -f -- "$cur"))
		;;
	"help node")
		[[ ${#words[@]} -eq 2 ]] && COMPREPLY=($(compgen -W "commission decommission update get votes forget" -- "$cur"))
		;;
	"help nodes")
		[[ ${#words[@]} -eq 2 ]] && COMPREPLY=($(compgen -W "commission decommission update get" -- "$cur"))
		;;
	"help global"|"help config")
		[[ ${#words[@]} -eq 2 ]] && COMPREPLY=($(compgen -W "get set" -- "$cur"))
		;;
	"help job")
		[[ ${#words[@]} -eq 2 ]] && COMPREPLY=($(compgen -W "get log cancel" -- "$cur"))
		;;
	esac
	return 0
}

complete -F _clusterctl clusterctl
