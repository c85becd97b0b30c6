#!/usr/bin/python3
"""Cascade end to end: the gateway escalates exactly the requests whose student confidence
(exp of the mean token logprob, computed here from the student's own logprobs asked directly of a
standalone worker on the same model) is under min_confidence, and an escalated answer is the
teacher's (asked directly of a standalone teacher worker). Greedy decoding, so both are exact.
Streaming clients get the same final text, replayed or passed through, and never the discarded one."""
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import Gateway, check, finish, post_direct, start_worker, synth  # noqa: E402

student, teacher = synth("student", 11), synth("teacher", 12)
_, sport = start_worker(student)
_, tport = start_worker(teacher)
prompts = ["question %d about the weather in town %d" % (i, i * 7) for i in range(24)]
truth, usage = [], []
for p in prompts:
    body = {"prompt": p, "max_tokens": 6, "temperature": 0, "logprobs": 0}
    st, s = post_direct(sport, "/v1/completions", body)
    st2, t = post_direct(tport, "/v1/completions", dict(body, logprobs=None))
    s, t = json.loads(s), json.loads(t)
    lps = s["choices"][0]["logprobs"]["token_logprobs"]
    conf = math.exp(sum(lps) / len(lps))
    truth.append((conf, s["choices"][0]["text"], t["choices"][0]["text"]))
    usage.append((s["usage"], t["usage"], s["choices"][0]["finish_reason"], t["choices"][0]["finish_reason"]))
confs = sorted(c for c, _, _ in truth)
thr = (confs[len(confs) // 2 - 1] + confs[len(confs) // 2]) / 2   # half escalate
print("student confidences %.4f..%.4f, threshold %.6f" % (confs[0], confs[-1], thr))

gw = Gateway("""
tiers:
  - {name: student, model: %s, cost_per_hour: 0.1}
  - {name: teacher, model: %s, cost_per_hour: 1.0}
routes:
  - match: {endpoint: completions}
    cascade: {first: student, then: teacher, min_confidence: %.9f}
""" % (student, teacher, thr))
check(gw.wait_ready("student") and gw.wait_ready("teacher"), "workers ready")
n_esc = 0
for i, (p, (conf, stext, ttext)) in enumerate(zip(prompts, truth)):
    want_esc = conf < thr
    n_esc += want_esc
    stream = i % 3 == 0
    st, h, body = gw.post("/v1/completions", {"prompt": p, "max_tokens": 6, "temperature": 0, "stream": stream})
    check(st == 200, "request %d status %d %s" % (i, st, body[:200]))
    tier = h.get("x-rightsize-tier")
    check(tier == ("teacher" if want_esc else "student"),
          "request %d (confidence %.5f, threshold %.5f): answered by %s" % (i, conf, thr, tier))
    if stream:
        events = [e for e in body.decode().split("\n\n") if e]
        check(events[-1] == "data: [DONE]", "request %d: stream ends with [DONE]" % i)
        text = "".join(json.loads(e[6:])["choices"][0]["text"] for e in events[:-1]
                       if json.loads(e[6:])["choices"])
    else:
        r = json.loads(body)
        text = r["choices"][0]["text"]
        check(r["choices"][0]["logprobs"] is None, "request %d: logprobs the client did not ask for were removed" % i)
    check(text == (ttext if want_esc else stext), "request %d: text %r, want %r" % (i, text, ttext if want_esc else stext))
    check(float(h.get("x-rightsize-cost-usd", "nan")) > 0 or stream, "request %d: a cost header" % i)
recs = gw.telemetry()
check(len(recs) == len(prompts), "one telemetry record per request (%d)" % len(recs))
for rec, (conf, _, _) in zip(recs, truth):
    check(abs(rec["confidence"] - conf) < 1e-5, "telemetry confidence %.6f vs %.6f" % (rec["confidence"], conf))
    check(rec["escalated"] == (conf < thr), "telemetry escalated flag")
    if rec["escalated"]:
        check(rec["first_tier"] == "student" and rec["first_tier_cost_usd"] > 0 and
              rec["cost_usd"] > rec["first_tier_cost_usd"], "escalated record costs both attempts: %s" % rec)
for rec, (su, tu, sf, tf) in zip(recs, usage):
    # tokens are the answering tier's (the client's usage), the first tier's apart (docs/telemetry.md)
    u, f = (tu, tf) if rec["escalated"] else (su, sf)
    check(rec["prompt_tokens"] == u["prompt_tokens"] and rec["output_tokens"] == u["completion_tokens"]
          and rec["usage_source"] == "backend", "%s: record tokens %s/%s = answering tier's usage %s"
          % (rec["id"], rec["prompt_tokens"], rec["output_tokens"], u))
    check(rec["finish_reason"] == f, "%s: finish_reason %s (want %s)" % (rec["id"], rec["finish_reason"], f))
    check(rec["ttft_ms"] is not None and 0 < rec["ttft_ms"] <= rec["e2e_ms"], "%s: ttft_ms %s" % (rec["id"], rec["ttft_ms"]))
    if rec["escalated"]:
        check(rec["first_tier_prompt_tokens"] == su["prompt_tokens"] and
              rec["first_tier_output_tokens"] == su["completion_tokens"], "%s: first tier's tokens kept apart" % rec["id"])
check(gw.metric("rightsize_cascade_escalations_total", 'tier="student"') == n_esc,
      "cascade_escalations_total == %d" % n_esc)
check(gw.metric("rightsize_routing_decisions_total", 'decision="cascade"') == len(prompts), "routing decisions")
print("%d of %d escalated" % (n_esc, len(prompts)))
check(gw.stop() == 0, "serve drains and exits 0")
finish()
