#!/bin/sh
# SPDX-License-Identifier: MIT
#
# tests/zk/fixture.sh - ctest's fixture zk-ensemble around ensemble.sh.
#
#   fixture.sh start ENSEMBLE_SH DIR   stop what an earlier run left in DIR,
#                                      start a fresh ensemble (no data kept)
#   fixture.sh stop ENSEMBLE_SH DIR    stop it (nothing to do if no DIR)
#
# start exits 77 (ctest: skipped) when the servers cannot run here, saying
# what is missing; the suites make the same check and skip themselves.
set -eu

what=${1:?usage: fixture.sh start|stop ENSEMBLE_SH DIR}
script=${2:?ensemble.sh}
dir=${3:?DIR}
java=${ZK_JAVA:-java}
jars=${ZK_JARS:-/usr/share/java}

case $what in
start)
	if ! command -v "$java" >/dev/null 2>&1; then
		echo "zk fixture: skipped: no '$java' in PATH: the ZooKeeper servers need a Java runtime (Debian: apt-get install default-jre-headless)"
		exit 77
	fi
	if ! [ -d /usr/share/zookeeper ]; then
		echo "zk fixture: skipped: no /usr/share/zookeeper: the ZooKeeper server is not installed (Debian: apt-get install zookeeper)"
		exit 77
	fi
	if ! [ -r "$jars/zookeeper.jar" ]; then
		echo "zk fixture: skipped: no $jars/zookeeper.jar (Debian: apt-get install zookeeper)"
		exit 77
	fi
	if [ -d "$dir" ]; then
		bash "$script" stop "$dir" || true
		rm -rf "$dir/1" "$dir/2" "$dir/3" "$dir/hosts"
	fi
	mkdir -p "$dir"
	exec bash "$script" start "$dir"
	;;
stop)
	[ -d "$dir" ] || exit 0
	exec bash "$script" stop "$dir"
	;;
*)
	echo "fixture.sh: start or stop, not '$what'" >&2
	exit 2
	;;
esac
