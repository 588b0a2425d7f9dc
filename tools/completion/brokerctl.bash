# bash completion for brokerctl(1)                         -*- shell-script -*-
# SPDX-License-Identifier: MIT
#
# Verbs and options come from brokerctl itself, app ids and APP/ID from the
# running brokerd (the one --socket names, if it is on the line), all
# through the hidden verb `brokerctl __complete`.

_brokerctl_ask()
{
	"$_brokerctl_cmd" "${_brokerctl_socket[@]}" __complete "$@" 2>/dev/null
}

_brokerctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local verb="" i w n=0
	local -a _brokerctl_socket=()
	_brokerctl_cmd=${COMP_WORDS[0]}
	command -v "$_brokerctl_cmd" >/dev/null 2>&1 || _brokerctl_cmd=brokerctl

	# The verb, the socket, and how many arguments the verb has before cur.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-s | --socket | --context | --context-file | --keepalive | --backlog)
			[[ $w == -s || $w == --socket ]] && _brokerctl_socket=(--socket "${COMP_WORDS[i + 1]}")
			((i++))
			;;
		--socket=*) _brokerctl_socket=("$w") ;;
		-*) ;;
		*)
			if [[ -z $verb ]]; then
				verb=$w
			else
				((n++))
			fi
			;;
		esac
	done

	case $prev in
	-s | --socket | --context-file)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--context | --keepalive | --backlog)
		return
		;;
	esac

	local IFS=$'\n'
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_brokerctl_ask options $verb)" -- "$cur"))
		return
	fi
	if [[ -z $verb ]]; then
		COMPREPLY=($(compgen -W "$(_brokerctl_ask verbs)" -- "$cur"))
		return
	fi
	case $verb:$n in
	list:0 | transfer:0 | listen:1)
		COMPREPLY=($(compgen -W "$(_brokerctl_ask apps)" -- "$cur"))
		;;
	show:0 | trigger:0 | drop:0)
		COMPREPLY=($(compgen -W "$(_brokerctl_ask sockets)" -- "$cur"))
		;;
	listen:0)
		# ':' splits words in bash: offer the schemes until one is typed
		if [[ $cur != *:* ]]; then
			COMPREPLY=($(compgen -W $'tcp:\nudp:\nunix:\nseqpacket:\nunixgram:' -- "$cur"))
			compopt -o nospace 2>/dev/null
		fi
		;;
	esac
}

complete -F _brokerctl brokerctl
