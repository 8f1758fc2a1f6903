#!/bin/bash
# kiln user-data check: user data decoded as an instance would decode it,
# printed part by part and key by key.  Good input (scripts, #cloud-config,
# gzip from gzip(1), MIME multipart from Python's email package with base64
# parts, stdin) exits 0; so does a #cloud-config with bad values, each key or
# entry not applied named with its line (kiln-init applies the rest, as
# cloud-init does); input cloud-init refuses too (bad YAML, not a mapping)
# and malformed input (bad MIME boundaries, truncated gzip, a gzip bomb)
# exits 1 with one line naming the file, the part and the line.
. "$(dirname "$0")/../lib/test-lib.sh"

test_have_prereq KILN || skip_all "kiln is not built (make)"
test_have_prereq PYTHON3 || skip_all "needs /usr/bin/python3"
need_cmd gzip

# has FILE LINE...: each LINE is a whole line of FILE.
has() {
	local f=$1 l
	shift
	for l in "$@"; do
		grep -Fxq -- "$l" "$f" || { echo "missing line: $l" >&2; cat "$f" >&2; return 1; }
	done
}

test_expect_success 'inputs' '
	printf "#!/bin/sh\necho hello from user data\n" >script.sh &&
	cat >cc.yaml <<-\EOF &&
	#cloud-config
	hostname: web-1
	users:
	  - default
	  - name: alice
	    sudo: ALL=(ALL) NOPASSWD:ALL
	    ssh_authorized_keys:
	      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey alice@example
	write_files:
	  - path: /etc/motd
	    content: "hello world\n"
	    permissions: 0644
	  - path: /etc/app.conf
	    encoding: b64
	    content: YT0xCg==
	    owner: alice:alice
	    permissions: "0600"
	runcmd:
	  - echo one
	  - [sh, -c, "echo two"]
	  - echo three
	packages: [nginx]
	apt: {preserve_sources_list: true}
	EOF
	cat >bad-type.yaml <<-\EOF &&
	#cloud-config
	users:
	  - name: a
	  - name: b
	  - name: c
	    gecos: third user
	    sudo: true
	EOF
	printf "#cloud-config\nruncmd:\n  - ls\n bad: indent\n" >bad-yaml.yaml &&
	/usr/bin/python3 - <<-\EOF
	import base64
	from email.mime.multipart import MIMEMultipart
	from email.mime.text import MIMEText
	script = open("script.sh").read()
	cc = open("cc.yaml").read()
	m = MIMEMultipart()
	s = MIMEText(script, "x-shellscript", "utf-8")  # utf-8: base64 transfer encoding
	s.add_header("Content-Disposition", "attachment", filename="setup.sh")
	m.attach(s)
	m.attach(MIMEText(cc, "cloud-config", "us-ascii"))
	m.attach(MIMEText("#include\nhttps://example.com/more\n", "x-include-url"))
	m.attach(MIMEText("#!/bin/sh\necho every boot\n", "x-shellscript-per-boot"))
	m.attach(MIMEText("#!/bin/sh\necho once\n", "x-shellscript-per-once"))
	open("mime.eml", "w").write(m.as_string())
	assert "Content-Transfer-Encoding: base64" in m.as_string()
	b = MIMEMultipart()
	b.attach(MIMEText(script, "x-shellscript"))
	b.attach(MIMEText(open("bad-yaml.yaml").read(), "cloud-config"))
	open("mime-bad-yaml.eml", "w").write(b.as_string())
	# The closing boundary cut off.
	t = m.as_string()
	open("mime-no-close.eml", "w").write(t[:t.rindex("\n--")])
	EOF
'

test_expect_success 'a script' '
	"$KILN" user-data check script.sh >out &&
	has out "user data '\''script.sh'\'': 36 bytes, 1 part" \
		"part 1: text/x-shellscript, '\''part-001'\'', 36 bytes: runs once per instance as a script"
'

test_expect_success '#cloud-config: key by key, unsupported keys on one line' '
	"$KILN" user-data check cc.yaml >out &&
	has out "part 1: text/cloud-config, $(wc -c <cc.yaml) bytes: applied as #cloud-config" \
		"  hostname: web-1" \
		"  users: 2 (default; alice: sudo, 1 key)" \
		"  write_files: /etc/motd (0644, root:root, 12 bytes)" \
		"  write_files: /etc/app.conf (0600, alice:alice, 4 bytes, written as root:root, its owner applied after the users module)" \
		"  runcmd: 3 commands" \
		"unsupported keys (not applied): packages, apt"
'

test_expect_success 'gzip (from gzip(1)) and stdin' '
	gzip -9 -c cc.yaml >cc.yaml.gz &&
	"$KILN" user-data check cc.yaml.gz >out &&
	has out "user data '\''cc.yaml.gz'\'': $(wc -c <cc.yaml.gz) bytes, gzip (1 layer), 1 part" \
		"  runcmd: 3 commands" &&
	"$KILN" user-data check - <cc.yaml.gz >out2 &&
	has out2 "user data '\''-'\'': $(wc -c <cc.yaml.gz) bytes, gzip (1 layer), 1 part" "  hostname: web-1"
'

test_expect_success 'MIME multipart from Python, base64 part, gzip of it' '
	"$KILN" user-data check mime.eml >out &&
	has out "part 1: text/x-shellscript, '\''setup.sh'\'', 36 bytes: runs once per instance as a script" \
		"part 2: text/cloud-config, $(wc -c <cc.yaml) bytes: applied as #cloud-config" \
		"  users: 2 (default; alice: sudo, 1 key)" \
		"part 3: text/x-include-url, 34 bytes: not applied: #include is not supported" \
		"part 4: text/x-shellscript-per-boot, '\''part-004'\'', 26 bytes: runs every boot as a script" \
		"part 5: text/x-shellscript-per-once, '\''part-005'\'', 20 bytes: runs once for the life of the disk (not again for a new instance id) as a script" \
		"unsupported keys (not applied): packages, apt" &&
	gzip -c mime.eml >mime.eml.gz &&
	"$KILN" user-data check mime.eml.gz >out2 &&
	grep -q "gzip (1 layer), MIME multipart (depth 1), 5 parts" out2 &&
	tail -n +2 out >body1 && tail -n +2 out2 >body2 &&
	test_cmp body1 body2
'

test_expect_success 'a bad value: that entry named with its line, the rest applied, exit 0' '
	"$KILN" user-data check bad-type.yaml >out 2>err &&
	test ! -s err &&
	has out "part 1: text/cloud-config, $(wc -c <bad-type.yaml) bytes: applied as #cloud-config, except 1 bad key or entry (NOT APPLIED below)" \
		"  users: 2 (a; b)" \
		"  NOT APPLIED: users[2] (c), line 7: key '\''users[2].sudo'\'': expected a string, a list or false"
'

test_expect_success 'bad values in several keys; cloud-init'\''s lenient shapes' '
	cat >lenient.yaml <<-\EOF &&
	#cloud-config
	hostname: [web, 1]
	users:
	  alice: true
	  bob: {groups: [adm]}
	  carol: false
	write_files:
	  - {path: /etc/a, encoding: b64, content: "YT$0x"}
	  - {path: /etc/b, encoding: b64, content: "QUJDR"}
	  - {path: /etc/c, permissions: rw-r--r--}
	runcmd: echo not a list
	timezone: UTC
	EOF
	"$KILN" user-data check lenient.yaml >out &&
	has out "part 1: text/cloud-config, $(wc -c <lenient.yaml) bytes: applied as #cloud-config, except 4 bad keys or entries (NOT APPLIED below)" \
		"  users: 2 (alice; bob: groups adm)" \
		"  write_files: /etc/a (0644, root:root, 3 bytes)" \
		"  timezone: UTC" \
		"  warning: users: a mapping of users is deprecated in cloud-init (use a list); read as one" \
		"  warning: write_files[0].content: 1 byte outside the base64 alphabet or after its padding ignored, as cloud-init'\''s b64decode() does" \
		"  NOT APPLIED: hostname, line 2: key '\''hostname'\'': expected a string" \
		"  NOT APPLIED: write_files[1] (/etc/b), line 9: write_files[1].content: base64: 5 characters of data, one more than a multiple of 4: cannot be decoded" \
		"  NOT APPLIED: write_files[2] (/etc/c), line 10: key '\''write_files[2].permissions'\'': expected an octal mode such as '\''0644'\''" \
		"  NOT APPLIED: runcmd, line 11: key '\''runcmd'\'': expected a list of commands"
'

test_expect_success 'bad YAML in the second MIME part: refused whole, the other parts listed, exit 1' '
	must_fail_with "^kiln: user data '\''mime-bad-yaml.eml'\'': part 2: line 4: invalid YAML" \
		"$KILN" user-data check mime-bad-yaml.eml &&
	{ "$KILN" user-data check mime-bad-yaml.eml >out 2>/dev/null; test $? = 1; } &&
	grep -q "^part 1: text/x-shellscript, .*: runs once per instance as a script$" out &&
	grep -q "^part 2: text/cloud-config, [0-9]* bytes: NOT APPLIED (cloud-init refuses it too): line 4: invalid YAML" out
'

test_expect_success 'bad MIME boundary' '
	must_fail_with "^kiln: user data '\''mime-no-close.eml'\'': MIME part 5: no closing boundary '\''--=+[0-9]+==--'\''$" \
		"$KILN" user-data check mime-no-close.eml
'

test_expect_success 'truncated gzip, gzip bomb, too big' '
	head -c $(($(wc -c <cc.yaml.gz) - 5)) cc.yaml.gz >trunc.gz &&
	must_fail_with "^kiln: user data '\''trunc.gz'\'': gzip: truncated stream" "$KILN" user-data check trunc.gz &&
	head -c 104857600 /dev/zero | gzip -c >bomb.gz &&
	test $(wc -c <bomb.gz) -lt 200000 &&
	must_fail_with "^kiln: user data '\''bomb.gz'\'': gzip: inflates to more than 16 MiB \(the limit\)$" \
		"$KILN" user-data check bomb.gz &&
	head -c 17000000 /dev/zero >big &&
	must_fail_with "^kiln: user data '\''big'\'': larger than 16 MiB" "$KILN" user-data check big
'

test_expect_success 'not applied parts are named; empty input' '
	printf "## template: jinja\n#cloud-config\nhostname: {{ x }}\n" >j &&
	"$KILN" user-data check j >out &&
	has out "part 1: text/jinja2, 51 bytes: not applied: jinja templates are not supported" &&
	: >empty &&
	"$KILN" user-data check empty >out &&
	has out "user data '\''empty'\'': 0 bytes, 0 parts" "nothing to apply"
'

test_expect_success 'over EC2'"'"'s 16384 bytes: a warning (kiln run refuses such user data), still checked' '
	{ printf "#cloud-config\nruncmd:\n"; for i in $(seq 1 1500); do echo "  - echo line $i"; done; } >big.yaml &&
	test $(wc -c <big.yaml) -gt 16384 &&
	"$KILN" user-data check big.yaml >out &&
	grep -q "^warning: $(wc -c <big.yaml) bytes, more than EC2'"'"'s limit of 16384: RunInstances and kiln run refuse it" out &&
	head -c 16384 big.yaml >edge.yaml &&
	"$KILN" user-data check edge.yaml >out2 &&
	! grep -q "more than EC2" out2
'

test_expect_success 'usage and unreadable files' '
	must_fail_with "^kiln: cannot read user data '\''nope'\'': No such file or directory$" \
		"$KILN" user-data check nope &&
	{ "$KILN" user-data 2>err; test $? = 2; } && grep -q "usage: kiln user-data check FILE" err &&
	"$KILN" user-data --help | grep -q "usage: kiln user-data check FILE"
'

test_done
