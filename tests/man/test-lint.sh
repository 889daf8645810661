#!/bin/sh
# mandoc -T lint must have nothing to say about the man page.
out=$(mandoc -T lint -W warning man/queue-fs-proc.8 2>&1)
if [ $? -eq 0 ] && [ -z "$out" ]; then
	echo "PASS: mandoc lint queue-fs-proc.8"
else
	echo "FAIL: mandoc lint queue-fs-proc.8"
	echo "$out"
	exit 1
fi
