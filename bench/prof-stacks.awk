# prof-stacks.awk: perf script -g output (bench/e2e-bench.sh --profile)
# to "command|system call|samples|samples of the command": each sample
# goes to the system call it was taken in (the frame below
# do_syscall_64), to "user" when taken in user space, else to "kernel,
# no syscall" (interrupts, softirqs, the scheduler after an interrupt)
function flush() {
	if (comm == "")
		return
	if (sys == "")
		sys = inuser ? "user" : "kernel, no syscall"
	n[comm, sys]++
	total[comm]++
	comm = ""
}
/^[^ \t]/ {
	flush()
	comm = $1; sys = ""; p1 = ""; p2 = ""; first = 1; inuser = 0
	next
}
/^[ \t]+[0-9a-f]+ / {
	sym = $2; sub(/\+0x[0-9a-f]+$/, "", sym)
	if (first) {
		inuser = $0 !~ /kernel\.kallsyms/
		first = 0
	}
	if (sym == "do_syscall_64" && sys == "") {
		sys = p1 == "x64_sys_call" ? p2 : p1
		sub(/^(__(x64|ia32|do|se)_sys_|__sys_|ksys_|do_)/, "", sys)
	}
	p2 = p1; p1 = sym
	next
}
END {
	flush()
	for (k in n) {
		split(k, a, SUBSEP)
		printf "%s|%s|%d|%d\n", a[1], a[2], n[k], total[a[1]]
	}
}
