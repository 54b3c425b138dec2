#!/bin/sh
# make valgrind: stands in for the daemon ($ATROUSD_BIN) and runs the real one
# ($ATROUSD_VALGRIND_DAEMON) under valgrind memcheck. A definite leak or a memory error makes
# the daemon exit 99, which fails the test that stops it (test_daemon_stop, run_tests.sh);
# the report is in the daemon's stderr, which the harness prints then. -q keeps the output of
# --help, --version and bad flags as the tests expect it.
#
# Under valgrind oneDNN sees no AVX-512 (valgrind emulates up to AVX2) and dispatches to its
# AVX2 kernels; make check (AddressSanitizer + LeakSanitizer) runs the production code path.
exec valgrind -q --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  --error-exitcode=99 --trace-children=no "${ATROUSD_VALGRIND_DAEMON:?set by make valgrind}" "$@"
