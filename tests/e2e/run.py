"""Runs the end-to-end tests against the built binary."""

import sys

import harness
import test_deb
import test_fastcgi
import test_faults
import test_follow
import test_follow_ctl
import test_gate
import test_health
import test_hostile
import test_lifecycle
import test_lints
import test_metrics
import test_manpages
import test_modes
import test_notify
import test_move
import test_operator
import test_postgres
import test_preload
import test_probe
import test_rendering
import test_sqlite

sys.exit(harness.run([test_fastcgi, test_modes, test_lifecycle, test_lints, test_move, test_operator,
                      test_sqlite, test_rendering, test_postgres, test_follow, test_follow_ctl, test_faults, test_hostile,
                      test_gate, test_health, test_metrics, test_preload, test_notify, test_probe, test_manpages, test_deb]))
