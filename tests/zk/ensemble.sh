#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/zk/ensemble.sh - a 3-server ZooKeeper ensemble on 127.0.0.1 for
# tests, run from Debian's zookeeper package (its jars, not zookeeperd: no
# system service), each server a `java` process started and stopped by PID.
#
#   ensemble.sh start DIR        create DIR/{1,2,3} (data kept if there is
#                                some), start all three, wait until they
#                                serve with one leader; print the connect
#                                string (also written to DIR/hosts)
#   ensemble.sh stop DIR         SIGTERM each server, SIGKILL what is left
#   ensemble.sh restart DIR      stop, start again on the same data, wait;
#                                print the connect string
#   ensemble.sh leader DIR       print N of the current leader
#   ensemble.sh kill N DIR       SIGKILL server N, wait until it is gone
#   ensemble.sh start-one N DIR  start server N again on its data, wait
#                                until it serves
#   ensemble.sh wait DIR         wait until the running servers serve, with
#                                one leader (after a kill, say)
#
# Server N (1..3) lives in DIR/N: zoo.cfg, data/ (myid, snapshots, logs),
# log/zookeeper.log (log4j), log/console.out (the JVM's own stdout and
# stderr), pid.  Its client port is BASE+N-1, its quorum and election ports
# BASE+100+N and BASE+200+N, BASE being ZK_BASE_PORT (default 22181), read
# at `start`; the other commands take the ports from DIR/N/zoo.cfg.
# Nothing listens on anything but 127.0.0.1.
#
# Every wait is bounded by ZK_TIMEOUT seconds (default 60); a start that
# times out stops what it started.  Processes are only ever signalled by the
# PID in DIR/N/pid, and only if /proc says that PID still runs this server
# (QuorumPeerMain on DIR/N/zoo.cfg): never by name.
#
# Environment: ZK_BASE_PORT, ZK_TIMEOUT, ZK_JAVA (default: java in PATH),
# ZK_JARS (default /usr/share/java), ZK_JVM_FLAGS (more JVM flags, split on
# blanks), ZK_FORCE_SYNC (yes or no, default yes: fsync the transaction log
# as ZooKeeper does by default; no makes writes cheaper and still survives a
# killed server, not a crashed machine).
set -euo pipefail

prog=${0##*/}
timeout_s=${ZK_TIMEOUT:-60}
java=${ZK_JAVA:-java}
jars=${ZK_JARS:-/usr/share/java}
main_class=org.apache.zookeeper.server.quorum.QuorumPeerMain
servers=(1 2 3)

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

[[ $timeout_s =~ ^[0-9]+$ ]] || die "ZK_TIMEOUT=$timeout_s: need a number of seconds"

usage() {
	sed -n '/^#   ensemble.sh/,/^#$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

# now_ms: milliseconds since the epoch, without forking
now_ms() {
	local t=$EPOCHREALTIME

	echo $((${t%[.,]*} * 1000 + 10#${t#*[.,]} / 1000))
}

# client_port N: server N's client port, from its zoo.cfg
client_port() {
	local line

	[[ -r $dir/$1/zoo.cfg ]] || die "$dir/$1/zoo.cfg: missing (not an ensemble made by '$prog start')"
	while IFS= read -r line; do
		if [[ $line == clientPort=* ]]; then
			echo "${line#clientPort=}"
			return
		fi
	done <"$dir/$1/zoo.cfg"
	die "$dir/$1/zoo.cfg: no clientPort"
}

hosts() {
	local n out=

	for n in "${servers[@]}"; do
		out+=${out:+,}127.0.0.1:$(client_port "$n")
	done
	echo "$out"
}

# four PORT WORD: send a four-letter word, print the answer (empty if none
# within 2 s or nobody listens)
four() {
	# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
	timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf %s "$2" >&3 && cat <&3' \
		_ "$1" "$2" 2>/dev/null || true
}

# mode N: leader, follower, ... if server N serves, else nothing
mode() {
	local line

	while IFS= read -r line; do
		if [[ $line == Mode:* ]]; then
			line=${line#Mode: }
			echo "${line%$'\r'}"
			return
		fi
	done < <(four "$(client_port "$1")" srvr)
}

# pid_of N: print server N's PID and succeed if it runs; fails (printing
# nothing) if it does not: no pid file, or the PID is gone, a zombie, or
# now some other process
pid_of() {
	local pid stat cmd

	[[ -r $dir/$1/pid ]] || return 1
	read -r pid <"$dir/$1/pid" || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	read -r stat 2>/dev/null <"/proc/$pid/stat" || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != [ZX] ]] || return 1
	cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
	[[ $cmd == *" $main_class $dir/$1/zoo.cfg"* ]] || return 1
	echo "$pid"
}

running() {
	local n

	for n in "${servers[@]}"; do
		if pid_of "$n" >/dev/null; then echo "$n"; fi
	done
}

check_n() {
	[[ $1 =~ ^[123]$ ]] || die "server number must be 1, 2 or 3, not '$1'"
}

set_dir() {
	[[ -n $1 ]] || usage
	[[ -d $1 ]] || die "$1: no such directory"
	dir=$(cd "$1" && pwd)
}

check_java() {
	command -v "$java" >/dev/null ||
		die "'$java' not found: a Java runtime is needed (Debian: apt-get install default-jre-headless)"
	[[ -r $jars/zookeeper.jar ]] ||
		die "$jars/zookeeper.jar not found (Debian: apt-get install zookeeper)"
	[[ -r $jars/slf4j-log4j12.jar && -r $jars/log4j-1.2.jar ]] ||
		die "$jars/slf4j-log4j12.jar or $jars/log4j-1.2.jar not found (Debian: apt-get install libslf4j-java liblog4j1.2-java)"
}

# configure N BASE: (re)write server N's zoo.cfg and log4j.properties,
# create its data directory and myid; data already there is kept
configure() {
	local n=$1 base=$2 d=$dir/$1 i

	mkdir -p "$d/data" "$d/log" "$d/tmp"
	echo "$n" >"$d/data/myid"
	{
		echo "# written by $prog; server $n of 3"
		echo "tickTime=500"
		echo "initLimit=10"
		echo "syncLimit=5"
		echo "dataDir=$d/data"
		echo "clientPort=$((base + n - 1))"
		echo "clientPortAddress=127.0.0.1"
		echo "maxClientCnxns=0"
		echo "# a session's timeout is clamped to [min, max]; max defaults to 20 ticks"
		echo "minSessionTimeout=1000"
		echo "maxSessionTimeout=10000"
		echo "autopurge.purgeInterval=0"
		echo "4lw.commands.whitelist=*"
		echo "admin.enableServer=false"
		echo "reconfigEnabled=false"
		echo "forceSync=${ZK_FORCE_SYNC:-yes}"
		for i in "${servers[@]}"; do
			echo "server.$i=127.0.0.1:$((base + 100 + i)):$((base + 200 + i))"
		done
	} >"$d/zoo.cfg"
	cat >"$d/log4j.properties" <<-EOF
		log4j.rootLogger=INFO, FILE
		log4j.appender.FILE=org.apache.log4j.FileAppender
		log4j.appender.FILE.File=$d/log/zookeeper.log
		log4j.appender.FILE.Append=true
		log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
		log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} [myid:$n] %-5p [%t] %c{1}: %m%n
	EOF
}

# port_free PORT: nobody accepts connections on 127.0.0.1:PORT
port_free() {
	# shellcheck disable=SC2016 # $1 is the inner shell's
	! timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# launch N: start server N in the background, write its PID
launch() {
	local n=$1 d=$dir/$1 p flags=() cp base end

	[[ -r $d/zoo.cfg && -r $d/data/myid ]] || die "$d: no zoo.cfg or data/myid (run '$prog start $dir' first)"
	if p=$(pid_of "$n"); then die "server $n already runs (pid $p)"; fi
	base=$(client_port "$n")
	base=$((base - n + 1))
	for p in $((base + n - 1)) $((base + 100 + n)) $((base + 200 + n)); do
		# a server just killed may hold its port for a moment still
		end=$(($(now_ms) + 10000))
		until port_free "$p"; do
			(($(now_ms) < end)) || die "127.0.0.1:$p is already in use (another ensemble? set ZK_BASE_PORT)"
			sleep 0.1
		done
	done
	cp=$jars/zookeeper.jar:$jars/slf4j-log4j12.jar:$jars/log4j-1.2.jar
	# shellcheck disable=SC2206 # a list of flags, on purpose
	flags=(-Xms16m -Xmx96m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
		-XX:-UsePerfData
		-Djava.net.preferIPv4Stack=true -Djava.awt.headless=true
		"-Djava.io.tmpdir=$d/tmp"
		"-Dlog4j.configuration=file:$d/log4j.properties"
		"-Dzookeeper.log.dir=$d/log"
		-Dzookeeper.jmx.log4j.disable=true
		-Dzookeeper.preAllocSize=1024
		-Dzookeeper.fastleader.minNotificationInterval=100
		-Dzookeeper.fastleader.maxNotificationInterval=1000
		${ZK_JVM_FLAGS:-})
	{
		echo "=== $(date '+%F %T') $java ${flags[*]} -cp $cp $main_class $d/zoo.cfg"
	} >>"$d/log/console.out"
	(
		# no descriptor of the caller's beyond 0-2 (a pipe that a $(...)
		# or a test runner waits on) may stay open in the server
		for p in /proc/"$BASHPID"/fd/*; do
			p=${p##*/}
			if ((p > 2)); then eval "exec $p>&-" 2>/dev/null || true; fi
		done
		cd "$d"
		exec "$java" "${flags[@]}" -cp "$cp" "$main_class" "$d/zoo.cfg"
	) </dev/null >>"$d/log/console.out" 2>&1 &
	p=$!
	echo "$p" >"$d/pid"
	launched+=("$n")
	# until the subshell has become java, pid_of does not know it
	end=$(($(now_ms) + 5000))
	until pid_of "$n" >/dev/null; do
		[[ -d /proc/$p ]] || die "server $n: $java exited at once (see $d/log/console.out)"
		if (($(now_ms) > end)); then
			kill -KILL "$p" 2>/dev/null || true
			die "server $n: pid $p did not become $java within 5 s"
		fi
		sleep 0.01
	done
}

# stop_servers SIGNAL N...: signal the running ones, wait up to 10 s for
# them to go; SIGKILL and wait again for what is left.  Removes the
# pid files of the servers that are gone.
stop_servers() {
	local sig=$1 n pid end left
	shift

	for n in "$@"; do
		if pid=$(pid_of "$n"); then kill "-$sig" "$pid" 2>/dev/null || true; fi
	done
	end=$(($(now_ms) + 10000))
	while :; do
		left=()
		for n in "$@"; do
			if pid_of "$n" >/dev/null; then left+=("$n"); fi
		done
		((${#left[@]})) || break
		if (($(now_ms) > end)); then
			if [[ $sig == KILL ]]; then
				die "server(s) ${left[*]} still there 10 s after SIGKILL"
			fi
			echo "$prog: server(s) ${left[*]} ignored SIGTERM for 10 s: SIGKILL" >&2
			stop_servers KILL "${left[@]}"
			break
		fi
		sleep 0.05
	done
	for n in "$@"; do
		if ! pid_of "$n" >/dev/null; then rm -f "$dir/$n/pid"; fi
	done
}

# wait_serving N...: wait until servers N... all serve and exactly one of
# them leads; on timeout (or if one of them dies), say how each was
wait_serving() {
	local end n m leaders state

	end=$(($(now_ms) + timeout_s * 1000))
	while :; do
		leaders=0
		state=
		for n in "$@"; do
			if ! pid_of "$n" >/dev/null; then
				echo "$prog: server $n exited; the end of $dir/$n/log/zookeeper.log:" >&2
				tail -n 15 "$dir/$n/log/zookeeper.log" "$dir/$n/log/console.out" >&2 2>/dev/null || true
				return 1
			fi
			m=$(mode "$n")
			state+=" $n:${m:-not-serving}"
			if [[ $m == leader ]]; then leaders=$((leaders + 1)); fi
			if [[ -z $m ]]; then leaders=-99; fi
		done
		((leaders == 1)) && return 0
		if (($(now_ms) > end)); then
			echo "$prog: no ensemble serving with one leader after ${timeout_s}s:$state (logs: $dir/N/log/)" >&2
			return 1
		fi
		sleep 0.1
	done
}

# on a failed start, stop what this run started
launched=()
abort_launched() {
	if ((${#launched[@]})); then
		echo "$prog: stopping server(s) ${launched[*]}" >&2
		stop_servers TERM "${launched[@]}" || true
	fi
}

start_all() {
	local n hosts

	trap abort_launched EXIT
	for n in "${servers[@]}"; do launch "$n"; done
	wait_serving "${servers[@]}" || exit 1
	trap - EXIT
	hosts=$(hosts)
	echo "$hosts" >"$dir/hosts"
	echo "$hosts"
}

cmd=${1:-}
case $cmd in
start)
	(($# == 2)) || usage
	check_java
	base=${ZK_BASE_PORT:-22181}
	if ! [[ $base =~ ^[0-9]+$ ]] || ((base < 1024 || base + 203 > 65535)); then
		die "ZK_BASE_PORT=$base: need a port from 1024 to 65332"
	fi
	mkdir -p "$2"
	set_dir "$2"
	for n in "${servers[@]}"; do
		if p=$(pid_of "$n"); then die "server $n already runs (pid $p): '$prog stop $dir' first"; fi
	done
	for n in "${servers[@]}"; do configure "$n" "$base"; done
	start_all
	;;
restart)
	(($# == 2)) || usage
	check_java
	set_dir "$2"
	stop_servers TERM "${servers[@]}"
	start_all
	;;
stop)
	(($# == 2)) || usage
	set_dir "$2"
	stop_servers TERM "${servers[@]}"
	;;
leader)
	(($# == 2)) || usage
	set_dir "$2"
	mapfile -t live < <(running)
	# a leader left alone says "leader" for syncLimit ticks more
	((${#live[@]} >= 2)) ||
		die "${#live[@]} server(s) running (${live[*]:-none}): no quorum, no leader"
	found=()
	for n in "${live[@]}"; do
		if [[ $(mode "$n") == leader ]]; then found+=("$n"); fi
	done
	((${#found[@]} == 1)) || die "no single leader (leaders: ${found[*]:-none}; running: $(running | tr '\n' ' '))"
	echo "${found[0]}"
	;;
kill)
	(($# == 3)) || usage
	check_n "$2"
	set_dir "$3"
	pid_of "$2" >/dev/null || die "server $2 does not run"
	stop_servers KILL "$2"
	;;
start-one)
	(($# == 3)) || usage
	check_n "$2"
	check_java
	set_dir "$3"
	trap abort_launched EXIT
	launch "$2"
	mapfile -t live < <(running)
	wait_serving "${live[@]}" || exit 1
	trap - EXIT
	;;
wait)
	(($# == 2)) || usage
	set_dir "$2"
	mapfile -t live < <(running)
	((${#live[@]} >= 2)) ||
		die "${#live[@]} server(s) running (${live[*]:-none}): no quorum of 3 is possible"
	wait_serving "${live[@]}" || exit 1
	;;
*)
	usage
	;;
esac
