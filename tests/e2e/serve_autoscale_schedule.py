#!/usr/bin/python3
"""serve: the autoscaler's schedule windows follow the UTC time of day, as the planner simulates.

Two remote tiers (fake backends), both autoscaled within replicas 1..5. Tier `now` has a window
covering the current UTC hour (and the next, so the hour turning during the test changes
nothing) with min_replicas 3; tier `later` has a window that starts three hours from now with
min_replicas 4. With no traffic the queue asks for nothing, so the desired counts the gateway
exports (rightsize_desired_replicas, what KEDA/HPA reads for remote tiers) are exactly the
schedule's floors: 3 and 1. A gateway that read the windows off its uptime (monotonic clock,
hour 0 at boot) would give 3 only when the machine booted at that hour of the day.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import Gateway, check, fake_backend, finish  # noqa: E402

h = time.gmtime().tm_hour
_, port = fake_backend("b")
url = "http://127.0.0.1:%d/v1" % port


def window(start, length, n):
    return "{start_hour: %d, end_hour: %d, min_replicas: %d}" % (start % 24, (start + length) % 24, n)


cfg = f"""autoscaling: {{interval_s: 0.1, upscale_delay_s: 0, downscale_delay_s: 0}}
tiers:
  - name: now
    url: {url}
    model: m
    cost_per_hour: 1
    replicas: {{min: 1, max: 5}}
    autoscaling: {{target_per_replica: 4, schedule: [{window(h, 2, 3)}]}}
  - name: later
    url: {url}
    model: m
    cost_per_hour: 1
    replicas: {{min: 1, max: 5}}
    autoscaling: {{target_per_replica: 4, schedule: [{window(h + 3, 2, 4)}]}}
routes:
  - {{match: {{endpoint: chat}}, tier: now}}
  - {{match: {{endpoint: completions}}, tier: later}}
"""
gw = Gateway(cfg)
want = {"now": 3, "later": 1}
# The desired count starts at the tier's initial replicas; read it after the autoscaler has run
# several times (interval 0.1 s), so what is checked is its evaluation, not the start value.
time.sleep(1.0)
got = {t: gw.metric("rightsize_desired_replicas", 'tier="%s"' % t) for t in want}
for t in want:
    check(got[t] == want[t], "tier %s: desired replicas %s, want %d (UTC hour %d)" % (t, got[t], want[t], h))
gw.stop()
finish()
