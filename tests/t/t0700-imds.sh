#!/bin/bash
# The IMDS server of `kiln run` against real clients: `kiln imds listen` on a
# free port driven with curl (the token flow, TTL expiry to the millisecond,
# 401 without a token, IMDSv1 when allowed, 400/403/404/405, oversized
# header and body, malformed request lines, traversal with --path-as-is,
# keep-alive, 50 clients at once, SIGTERM), and `kiln imds serve` driven
# through its stdin and stdout the way QEMU's guestfwd drives it: the cap on
# connections served at once (429 past it), symbolic links in the state
# folder.
. "$(dirname "$0")/../lib/test-lib.sh"

test_have_prereq KILN || skip_all "kiln is not built (make)"
need_cmd curl

IID=i-0123456789abcdef0
AMI=ami-0abcdef1234567890
PUT_TTL='X-aws-ec2-metadata-token-ttl-seconds'
PIDS=

# start_listen NAME DIR [ARGS...]: `kiln imds listen DIR --port 0` in the
# background; sets NAME_PORT and NAME_PID once it says where it listens.
start_listen() {
	local name=$1 dir=$2 i port
	shift 2
	"$KILN" imds listen "$dir" --port 0 "$@" >"$name.out" 2>"$name.err" &
	eval "${name}_PID=$!"
	PIDS="$PIDS $!"
	for i in $(seq 50); do
		port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$name.out")
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ] || { cat "$name.out" "$name.err"; return 1; }
	eval "${name}_PORT=$port"
}

# code URL [CURL ARGS...]: the HTTP status; the body in body, headers in head.
code() {
	local url=$1
	shift
	curl -s -D head -o body -w '%{http_code}' "$@" "$url"
}

token() {
	curl -s -f -X PUT -H "$PUT_TTL: ${2:-21600}" "http://127.0.0.1:$1/latest/api/token"
}

# statuses FILE CODE: how many responses in FILE have status CODE (a body
# has no final newline, so the next status line may follow it on its line).
statuses() {
	grep -o "HTTP/1\.1 $2 " "$1" | wc -l
}

# raw PORT BYTES: send BYTES on one connection, print all that comes back.
raw() {
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf "$2" >&3
	timeout 10 cat <&3
	exec 3<&-
}

test_expect_success 'state folders: with user data and a key (v2 only), and without (v1 allowed)' '
	printf "#cloud-config\nhostname: kiln\n" >user-data &&
	echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake test@kiln" >key.pub &&
	"$KILN" imds write v2 --instance-id $IID --ami-id $AMI --user-data user-data \
		--key-name mykey --public-key key.pub --block-device ami=/dev/xvda \
		--block-device root=/dev/xvda --block-device ebs1=sdf --block-device ephemeral0=sdb &&
	"$KILN" imds write v1 --instance-id i-00000000000000001 --ami-id $AMI --imds-v1 &&
	test "$(stat -c %a v2/secret)" = 600 &&
	test "$(stat -c %s v2/secret)" = 32 &&
	must_fail_with "imds folder .*v2.* already exists" "$KILN" imds write v2 --instance-id $IID --ami-id $AMI &&
	must_fail_with "instance id .i-nothex. is not" "$KILN" imds write bad --instance-id i-nothex --ami-id $AMI &&
	assert_no_file bad
'

test_expect_success 'listen on a free port' '
	start_listen V2 v2 &&
	start_listen V1 v1 &&
	test "$V2_PORT" -gt 0 && test "$V1_PORT" -gt 0
'

test_expect_success 'token flow: PUT a token, GET with it' '
	T=$(token $V2_PORT) &&
	test ${#T} = 54 &&
	test "$(code http://127.0.0.1:$V2_PORT/latest/api/token -X PUT -H "$PUT_TTL: 300")" = 200 &&
	grep -i "^X-aws-ec2-metadata-token-ttl-seconds: 300" head &&
	grep "^Server: EC2ws" head &&
	test "$(code http://127.0.0.1:$V2_PORT/latest/meta-data/instance-id -H "X-aws-ec2-metadata-token: $T")" = 200 &&
	test "$(cat body)" = $IID &&
	grep -i "^content-type: text/plain" head &&
	test "$(curl -s -H "X-aws-ec2-metadata-token: $T" http://127.0.0.1:$V2_PORT/latest/meta-data/public-keys/)" = 0=mykey &&
	curl -s -H "X-aws-ec2-metadata-token: $T" http://127.0.0.1:$V2_PORT/latest/meta-data/public-keys/0/openssh-key >got-key &&
	test "$(cat got-key)" = "$(cat key.pub)" &&
	curl -s -H "X-aws-ec2-metadata-token: $T" http://127.0.0.1:$V2_PORT/latest/user-data >got-ud &&
	cmp user-data got-ud &&
	test "$(curl -s -H "X-aws-ec2-metadata-token: $T" http://127.0.0.1:$V2_PORT/2009-04-04/meta-data/placement/region)" = us-east-1 &&
	printf "ami\nebs1\nephemeral0\nroot" >want-bdm &&
	curl -s -H "X-aws-ec2-metadata-token: $T" http://127.0.0.1:$V2_PORT/latest/meta-data/block-device-mapping/ >got-bdm &&
	test_cmp want-bdm got-bdm &&
	curl -s -H "X-aws-ec2-metadata-token: $T" http://127.0.0.1:$V2_PORT/latest/dynamic/instance-identity/document >doc &&
	grep "\"instanceId\": \"$IID\"" doc
'

test_expect_success 'TTL to the millisecond: a 1 s token works right after the PUT, not 1.1 s later' '
	for i in 1 2 3 4 5; do
		T1=$(token $V2_PORT 1) &&
		test "$(code http://127.0.0.1:$V2_PORT/latest/meta-data/ami-id -H "X-aws-ec2-metadata-token: $T1")" = 200 &&
		grep -qi "^X-aws-ec2-metadata-token-ttl-seconds: 1" head || return 1
	done &&
	sleep 1.1 &&
	test "$(code http://127.0.0.1:$V2_PORT/latest/meta-data/ami-id -H "X-aws-ec2-metadata-token: $T1")" = 401
'

test_expect_success '401 without a token or with a bad one' '
	test "$(code http://127.0.0.1:$V2_PORT/latest/meta-data/instance-id)" = 401 &&
	test "$(code http://127.0.0.1:$V2_PORT/latest/meta-data/instance-id -H "X-aws-ec2-metadata-token: nope")" = 401 &&
	T=$(token $V2_PORT) &&
	test "$(code http://127.0.0.1:$V1_PORT/latest/meta-data/instance-id -H "X-aws-ec2-metadata-token: $T")" = 401
'

test_expect_success 'IMDSv1 where allowed; 404 for absent user data and unknown paths' '
	test "$(code http://127.0.0.1:$V1_PORT/latest/meta-data/instance-id)" = 200 &&
	test "$(cat body)" = i-00000000000000001 &&
	test "$(code http://127.0.0.1:$V1_PORT/latest/user-data)" = 404 &&
	test "$(code http://127.0.0.1:$V1_PORT/latest/meta-data/no-such-thing)" = 404 &&
	test "$(code http://127.0.0.1:$V1_PORT/latest/meta-data/public-keys/)" = 404 &&
	test "$(code http://127.0.0.1:$V1_PORT/not-a-version/meta-data/)" = 404
'

test_expect_success '400 for a bad TTL, 403 for X-Forwarded-For, 405 for other methods' '
	U=http://127.0.0.1:$V2_PORT/latest/api/token &&
	test "$(code $U -X PUT)" = 400 &&
	test "$(code $U -X PUT -H "$PUT_TTL: 0")" = 400 &&
	test "$(code $U -X PUT -H "$PUT_TTL: 21601")" = 400 &&
	test "$(code $U -X PUT -H "$PUT_TTL: abc")" = 400 &&
	test "$(code $U -X PUT -H "$PUT_TTL: 21600" -H "X-Forwarded-For: 203.0.113.9")" = 403 &&
	test "$(code $U)" = 405 &&
	test "$(code $U -X POST -d x)" = 405 &&
	grep -i "^allow: GET, PUT" head &&
	test "$(code http://127.0.0.1:$V1_PORT/latest/meta-data/ -X DELETE)" = 405 &&
	test "$(code http://127.0.0.1:$V1_PORT/latest/meta-data/ -X PUT -H "$PUT_TTL: 5")" = 405
'

test_expect_success 'oversized header (431) and body (413)' '
	big=$(head -c 20000 /dev/zero | tr "\0" a) &&
	test "$(code http://127.0.0.1:$V1_PORT/latest/meta-data/ -H "X-Big: $big")" = 431 &&
	grep -i "^connection: close" head &&
	head -c 70000 /dev/zero >big-body &&
	test "$(code http://127.0.0.1:$V1_PORT/latest/api/token -X PUT -H "$PUT_TTL: 5" -H "Expect:" --data-binary @big-body)" = 413 &&
	longpath=/latest/$(head -c 9000 /dev/zero | tr "\0" b) &&
	test "$(code "http://127.0.0.1:$V1_PORT$longpath")" = 414
'

test_expect_success 'malformed request lines: 400, and the connection is closed' '
	raw $V1_PORT "NOT A REQUEST\r\n\r\n" >out1 &&
	head -n 1 out1 | grep -q "^HTTP/1.1 400 Bad Request" &&
	grep -qi "^connection: close" out1 &&
	raw $V1_PORT "GET /latest/meta-data/\r\n\r\n" >out2 &&
	head -n 1 out2 | grep -q "^HTTP/1.1 400 " &&
	raw $V1_PORT "GET / HTTP/1.1\r\nFolded: a\r\n b\r\n\r\nGET / HTTP/1.1\r\n\r\n" >out3 &&
	test "$(grep -o "HTTP/1.1 [0-9]* " out3 | wc -l)" = 1 &&
	head -n 1 out3 | grep -q "^HTTP/1.1 400 " &&
	raw $V1_PORT "GET / HTTP/3.0\r\n\r\n" >out4 &&
	head -n 1 out4 | grep -q "^HTTP/1.1 505 "
'

test_expect_success 'traversal attempts never serve a file outside the tree' '
	T=$(token $V2_PORT) && H="X-aws-ec2-metadata-token: $T" && B=http://127.0.0.1:$V2_PORT &&
	test "$(code $B/latest/meta-data/../../secret --path-as-is -H "$H")" = 400 &&
	test "$(code $B/latest/../settings --path-as-is -H "$H")" = 400 &&
	test "$(code $B/latest/meta-data/%2e%2e/%2e%2e/secret --path-as-is -H "$H")" = 400 &&
	test "$(code $B/latest/meta-data/%2E%2E%2F%2E%2E%2Fsecret --path-as-is -H "$H")" = 400 &&
	test "$(code $B//etc/passwd --path-as-is -H "$H")" = 400 &&
	test "$(code "$B/latest/meta-data/..%5c..%5csecret" --path-as-is -H "$H")" = 400 &&
	test "$(code "$B/latest/meta-data/instance-id%00" --path-as-is -H "$H")" = 400 &&
	test "$(code $B/latest/meta-data/public-keys/.listing --path-as-is -H "$H")" = 404 &&
	test "$(code $B/latest/.. --path-as-is -H "$H")" = 400 &&
	! cmp -s body v2/secret
'

test_expect_success 'keep-alive: two requests on one connection' '
	curl -sv http://127.0.0.1:$V1_PORT/latest/meta-data/instance-id \
		http://127.0.0.1:$V1_PORT/latest/meta-data/ami-id >both 2>curl-err &&
	grep -qi "re-using existing connection" curl-err &&
	test "$(cat both)" = "i-00000000000000001$AMI" &&
	raw $V1_PORT "GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\n\r\nGET /latest/meta-data/ami-id HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" >out &&
	test "$(statuses out 200)" = 2 &&
	grep -q "^Connection: keep-alive" out && grep -q "^Connection: close" out &&
	grep -q "^i-00000000000000001HTTP/1.1 200 OK" out
'

test_expect_success '50 concurrent clients, all 200' '
	T=$(token $V2_PORT) && clients= &&
	for i in $(seq 50); do
		curl -s -m 30 -o /dev/null -w "%{http_code}\n" -H "X-aws-ec2-metadata-token: $T" \
			http://127.0.0.1:$V2_PORT/latest/meta-data/instance-id >code.$i &
		clients="$clients $!"
	done &&
	wait $clients &&
	cat code.* >codes &&
	test "$(wc -l <codes)" = 50 &&
	test "$(grep -cx 200 codes)" = 50
'

test_expect_success 'an idle connection is dropped after --timeout' '
	start_listen IDLE v1 --timeout 1 &&
	exec 3<>/dev/tcp/127.0.0.1/$IDLE_PORT &&
	start=$(date +%s) &&
	if read -r -t 10 line <&3; then rc=0; else rc=$?; fi &&
	exec 3<&- &&
	test "$rc" = 1 && test $(( $(date +%s) - start )) -le 5 &&
	kill -TERM $IDLE_PID && wait $IDLE_PID
'

test_expect_success 'SIGTERM stops listen (exit 0, port closed)' '
	kill -TERM $V1_PID &&
	wait $V1_PID &&
	! curl -s -m 2 http://127.0.0.1:$V1_PORT/latest/meta-data/ >/dev/null
'

test_expect_success 'serve: one connection on stdin/stdout, tokens shared between runs' '
	printf "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n$PUT_TTL: 60\r\n\r\n" |
		"$KILN" imds serve v2 >s1 &&
	head -n 1 s1 | grep -q "^HTTP/1.1 200 OK" &&
	T=$(tail -c 54 s1) &&
	printf "GET /latest/meta-data/instance-id HTTP/1.1\r\nX-aws-ec2-metadata-token: $T\r\n\r\nGET /latest/meta-data/instance-type HTTP/1.1\r\nX-aws-ec2-metadata-token: $T\r\n\r\n" |
		"$KILN" imds serve v2 >s2 &&
	test "$(statuses s2 200)" = 2 &&
	grep -q "$IID" s2 && grep -q "t3.micro\$" s2 &&
	printf "GET /latest/meta-data/instance-id HTTP/1.1\r\n\r\n" | "$KILN" imds serve v2 >s3 &&
	head -n 1 s3 | grep -q "^HTTP/1.1 401 " &&
	printf "garbage\r\n\r\nGET / HTTP/1.1\r\n\r\n" | "$KILN" imds serve v1 >s4 &&
	test "$(grep -o "HTTP/1.1 [0-9]* " s4 | wc -l)" = 1 && head -n 1 s4 | grep -q "^HTTP/1.1 400 " &&
	printf "GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 16" | "$KILN" imds serve v1 >s5 &&
	test ! -s s5 &&
	must_fail_with "cannot open imds folder .*no-such-dir" "$KILN" imds serve no-such-dir </dev/null &&
	must_fail_with "listen needs --port" "$KILN" imds listen v1
'

test_expect_success 'serve: a request log, and 500 when the folder cannot be read' '
	printf "GET /latest/meta-data/instance-id HTTP/1.1\r\nX-aws-ec2-metadata-token: nope\r\n\r\n" |
		"$KILN" imds serve v2 --log req.log >s7 &&
	grep -q "^kiln imds: GET /latest/meta-data/instance-id 401\$" req.log &&
	printf "GET /latest/meta-data/ HTTP/1.1\r\n\r\n" | "$KILN" imds serve no-such-dir >s8 2>err8;
	test $? = 1 &&
	head -n 1 s8 | grep -q "^HTTP/1.1 500 " &&
	test "$(wc -l <err8)" = 1 && grep -q "no-such-dir" err8
'

test_expect_success PYTHON3 'serve with the connection as stdin, stdout and stderr (guestfwd): only HTTP on it' '
	cat >sock.py <<-\EOF &&
	import socket, subprocess, sys
	def run(argv, request):
	    a, b = socket.socketpair()
	    p = subprocess.Popen(argv, stdin=b, stdout=b, stderr=b)
	    b.close()
	    a.sendall(request)
	    out = b""
	    while True:
	        d = a.recv(65536)
	        if not d:
	            break
	        out += d
	    a.shutdown(socket.SHUT_WR)
	    return out.decode(), p.wait()
	kiln = sys.argv[1]
	out, rc = run([kiln, "imds", "serve", "-v", "no-such-dir"], b"GET / HTTP/1.1\r\n\r\n")
	print("missing rc=%d" % rc)
	print(out)
	out, rc = run([kiln, "imds", "serve", "-v", "v2"],
	              b"PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 9\r\nConnection: close\r\n\r\n")
	print("v2 rc=%d" % rc)
	print(out)
	EOF
	/usr/bin/python3 sock.py "$KILN" >sock-out &&
	grep -q "^missing rc=1" sock-out && grep -q "^v2 rc=0" sock-out &&
	test "$(statuses sock-out 500)" = 1 && test "$(statuses sock-out 200)" = 1 &&
	! grep -q "kiln imds" sock-out
'

# serve.py KILN DIR N: N `kiln imds serve DIR` at once, each on its own
# pipes, each sent one keep-alive request and kept open: prints each status;
# then one of the 200s ends (EOF) and a new one is served: prints its status.
cat >serve.py <<-\EOF
import os, subprocess, sys
kiln, folder, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
REQ = b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n"
def start():
    return subprocess.Popen([kiln, "imds", "serve", folder], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def ask(p):
    p.stdin.write(REQ)
    p.stdin.flush()
    data = b""
    while b"\r\n\r\n" not in data:
        d = os.read(p.stdout.fileno(), 65536)
        if not d:
            return "eof", ""
        data += d
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    length = [int(l.split(":")[1]) for l in lines if l.lower().startswith("content-length:")][0]
    while len(body) < length:
        body += os.read(p.stdout.fileno(), 65536)
    conn = [l.split(":")[1].strip() for l in lines if l.lower().startswith("connection:")][0]
    return lines[0].split(" ")[1], conn
procs = [start() for _ in range(n)]  # all alive at once before any is asked
answers = [ask(p) for p in procs]
for a in answers:
    print("status %s %s" % a)
for p, a in zip(procs, answers):
    if a[0] != "200":
        p.stdin.close()
        print("over the cap exits %d" % p.wait(timeout=10))
held = [p for p, a in zip(procs, answers) if a[0] == "200"]
held[0].stdin.close()
held[0].wait(timeout=10)
late = start()
print("after one ended: status %s %s" % ask(late))
for p in held[1:] + [late]:
    p.stdin.close()
    p.wait(timeout=10)
EOF

test_expect_success PYTHON3 'serve: at most 16 connections at once (flock slots), 429 past them' '
	/usr/bin/python3 serve.py "$KILN" v1 24 >cap.out &&
	cat cap.out &&
	test "$(grep -c "^status 200 keep-alive\$" cap.out)" = 16 &&
	test "$(grep -c "^status 429 close\$" cap.out)" = 8 &&
	test "$(grep -c "^over the cap exits 0\$" cap.out)" = 8 &&
	grep -q "^after one ended: status 200 keep-alive\$" cap.out &&
	test "$(ls v1/slots | wc -l)" = 16
'

test_expect_success PYTHON3 'serve: the cap is the folder'"'"'s max_connections (kiln imds write --max-connections)' '
	"$KILN" imds write capped --instance-id $IID --ami-id $AMI --imds-v1 --max-connections 2 &&
	grep -qx "max_connections=2" capped/settings &&
	/usr/bin/python3 serve.py "$KILN" capped 3 >cap2.out &&
	cat cap2.out &&
	test "$(grep -c "^status 200 " cap2.out)" = 2 && test "$(grep -c "^status 429 " cap2.out)" = 1 &&
	grep -q "^after one ended: status 200" cap2.out &&
	printf "GET /latest/meta-data/instance-id HTTP/1.1\r\n\r\n" | "$KILN" imds serve capped >s9 &&
	head -n 1 s9 | grep -q "^HTTP/1.1 200 " &&
	must_fail_with "bad --max-connections .0." "$KILN" imds write c0 --instance-id $IID --ami-id $AMI --max-connections 0
'

test_expect_success 'serve: symbolic links in the folder are never followed' '
	echo OUTSIDE-SECRET >outside &&
	ln -s "$PWD/outside" v1/tree/meta-data/leak &&
	ln -s / v1/tree/meta-data/rootfs &&
	ln -s instance-id v1/tree/meta-data/alias &&
	ln -s "$PWD/outside" v1/tree/user-data &&
	printf "GET /latest/meta-data/leak HTTP/1.1\r\n\r\nGET /latest/meta-data/rootfs/etc/passwd HTTP/1.1\r\n\r\nGET /latest/meta-data/alias HTTP/1.1\r\n\r\nGET /latest/user-data HTTP/1.1\r\n\r\nGET /latest/meta-data/ HTTP/1.1\r\nConnection: close\r\n\r\n" |
		"$KILN" imds serve v1 >s6 &&
	test "$(statuses s6 404)" = 4 &&
	test "$(statuses s6 200)" = 1 &&
	! grep -q -e OUTSIDE-SECRET -e "root:" -e leak -e rootfs -e alias s6 &&
	mv v1/tree v1/tree.real && ln -s tree.real v1/tree &&
	must_fail_with "cannot open .*v1/tree" "$KILN" imds serve v1 </dev/null
'

for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
test_done
