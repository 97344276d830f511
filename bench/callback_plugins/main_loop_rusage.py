"""Ansible callback for the controller bench: at the end of the run, ansible-playbook's own CPU (its main
process and threads: the strategy loop, variables, forking, results; not its task workers) and peak RSS,
written as JSON to $AIFACTORY_BENCH_MAIN_LOOP_OUT. Enabled by the bench alone, through the environment."""

from __future__ import annotations

import json
import os
import resource

from ansible.plugins.callback import CallbackBase

OUT_ENV = "AIFACTORY_BENCH_MAIN_LOOP_OUT"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "main_loop_rusage"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_stats(self, stats) -> None:
        where = os.environ.get(OUT_ENV)
        if where:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            with open(where, "w", encoding="utf-8") as out:
                json.dump({"cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024}, out)
