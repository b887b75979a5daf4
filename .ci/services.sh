#!/usr/bin/env bash
# Starts PostgreSQL, MariaDB and Redis on loopback when they are not already running.
set -uo pipefail
wait_for() { for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }

if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  wait_for pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL did not start"; exit 1; }
fi
if ! mysqladmin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  wait_for mysqladmin -h 127.0.0.1 -u root ping || { echo "MariaDB did not start"; exit 1; }
fi
mysql -h 127.0.0.1 -u root -e 'create database if not exists test' || exit 1
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for redis-cli -h 127.0.0.1 ping || { echo "Redis did not start"; exit 1; }
fi
echo "PostgreSQL, MariaDB and Redis are up"
