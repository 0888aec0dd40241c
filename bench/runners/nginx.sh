#!/bin/sh
# usage: nginx.sh PORT TMPDIR [FILE] -- nginx, 1 worker, foreground: "/" returns the 13-byte hello,
# "/64k" serves a 65536-byte static file, "/file" serves FILE (sendfile). The floor: HTTP on loopback
# without Python. The PID that runs this script becomes nginx's master (exec), so SIGTERM stops it.
set -e
PORT=$1; T=$2; FILE=${3:-$T/64k}
mkdir -p "$T"
head -c 65536 /dev/zero | tr '\0' 'x' > "$T/64k"
# the worker runs as the invoking user (root's nginx would switch it to nobody), so that
# callgrind_control (cg_ir.py) finds the worker's valgrind pipes
ME=$(id -un)
cat > "$T/nginx.conf" <<CONF
user $ME;
worker_processes 1;
daemon off;
master_process on;
pid $T/nginx.pid;
error_log $T/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  sendfile on;
  keepalive_requests 1000000;
  client_body_temp_path $T/cbt;
  proxy_temp_path $T/pt;
  fastcgi_temp_path $T/ft;
  uwsgi_temp_path $T/ut;
  scgi_temp_path $T/st;
  server {
    listen 127.0.0.1:$PORT;
    location = /64k { alias $T/64k; default_type application/octet-stream; }
    location = /file { alias $FILE; default_type application/octet-stream; }
    location / { return 200 "Hello, World!"; }
  }
}
CONF
exec /usr/sbin/nginx -p "$T" -c "$T/nginx.conf"
