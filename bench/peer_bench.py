"""Side by side with the tool users would pick instead, in the same run, on the same emulated
estate, on the same machine: Cloud Custodian (pinned from PyPI into its own virtualenv,
`.venv-peer`, never the test one).

- The sweep of 1,000 buckets, half without Block Public Access: our scheduled sweep (the release
  bootstrap under the local Lambda Runtime API) against `custodian run` of the equivalent pull-mode
  policy (`aws.s3`, filter `check-public-block`, action `set-public-block`).
- Lambda mode, per control (S3 Block Public Access, KMS rotation, SageMaker notebook stop): init,
  first and warm invocation, AWS calls per fix and per compliant resource, peak RSS.
- The Lambda bill of one million events, from those durations at each tool's deployed size.

Appends a section to BENCHMARKS.md. Run by scripts/bench after lambda_bench.py, on the same
emulator (bench/org_bench.py adds the organization sweep after it).
"""

import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lambda_bench as lb  # noqa: E402

BUCKETS = 1000
POLICY = """policies:
  - name: s3-block-public-access
    resource: aws.s3
    filters:
      - type: check-public-block
    actions:
      - type: set-public-block
"""


def open_buckets(s3=None):
    """Buckets of the seeded estate (of the account `s3` signs for) still without a full Block
    Public Access configuration."""
    s3 = s3 or boto3.client("s3")
    left = 0
    for b in s3.list_buckets()["Buckets"]:
        try:
            cfg = s3.get_public_access_block(Bucket=b["Name"])["PublicAccessBlockConfiguration"]
            left += not all(cfg.values())
        except s3.exceptions.ClientError:
            left += 1
    return left


def ours():
    lb.reset_estate()
    lb.seed(BUCKETS, 0, 0)
    _, latency, _, body, rss, calls = lb.run_function("s3-public-access-block", lb.SCHEDULE, {"SWEEP_CONCURRENCY": "8"})
    outcomes = lb.outcomes(body)
    return latency, calls, rss / 1024, len(outcomes), open_buckets()


def custodian(binary):
    lb.reset_estate()
    lb.seed(BUCKETS, 0, 0)
    with tempfile.TemporaryDirectory() as work:
        policy = os.path.join(work, "policy.yml")
        with open(policy, "w") as f:
            f.write(POLICY)
        lb.harness("/_harness/requests?reset=1")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        run = subprocess.run([binary, "run", "-s", os.path.join(work, "out"), "--region", "us-east-1", "--cache-period", "0", policy],
                             env=dict(os.environ), capture_output=True, text=True)
        wall = time.perf_counter() - start
        calls = lb.harness("/_harness/requests")["count"]
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if run.returncode != 0:
            raise SystemExit(f"custodian failed: {run.stderr[-2000:]}")
    # ru_maxrss of the children so far: Custodian's own unless an earlier child was larger.
    rss = max(peak, before) / 1024
    left = open_buckets()
    return wall, calls, rss, BUCKETS, left


def _policy(resource_type, source, event_name, ids, filters, actions):
    return {
        "execution-options": {"account_id": lb.ACCOUNT, "output_dir": "/tmp", "metrics_enabled": False},
        "policies": [{
            "name": f"{resource_type}-ct",
            "resource": resource_type,
            "mode": {"type": "cloudtrail", "role": f"arn:aws:iam::{lb.ACCOUNT}:role/custodian",
                     "events": [{"source": source, "event": event_name, "ids": ids}]},
            "filters": filters,
            "actions": actions,
        }],
    }


def _s3_case(name="bench-peer-first"):
    boto3.client("s3").create_bucket(Bucket=name)
    event = json.load(open(os.path.join(lb.ROOT, "events/s3-public-access-block/cloudtrail-delete-bucket-public-access-block.json")))
    event = json.loads(json.dumps(event).replace("ai-training-data-example", name))
    return event, lambda: open_buckets() == 0


def _kms_case(name=None):
    kms = boto3.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    event = json.load(open(os.path.join(lb.ROOT, "events/kms-key-rotation/cloudtrail-disable-key-rotation.json")))
    event = json.loads(json.dumps(event).replace("0b5c7e9a-1f2d-4c3b-8a6e-5d4f3c2b1a09", key))
    return event, lambda: kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"]


def _sagemaker_case(name="bench-peer-nb"):
    sm = boto3.client("sagemaker")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium",
                                RoleArn=f"arn:aws:iam::{lb.ACCOUNT}:role/x")
    event = json.load(open(os.path.join(lb.ROOT, "events/sagemaker-notebook-guard/cloudtrail-create-notebook-instance.json")))
    event = json.loads(json.dumps(event).replace("llm-finetune-notebook", name))
    status = lambda: sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]  # noqa: E731
    return event, lambda: status() in ("Stopping", "Stopped")


# (control, our function, our settings, Custodian's equivalent policy, estate + event + check)
CASES = [
    ("S3 Block Public Access", "s3-public-access-block", {},
     _policy("aws.s3", "s3.amazonaws.com", "DeleteBucketPublicAccessBlock", "requestParameters.bucketName",
             [{"type": "check-public-block"}], [{"type": "set-public-block"}]), _s3_case),
    ("KMS key rotation", "kms-key-rotation", {},
     _policy("aws.kms-key", "kms.amazonaws.com", "DisableKeyRotation", "requestParameters.keyId",
             [{"type": "key-rotation-status", "key": "KeyRotationEnabled", "value": False}],
             [{"type": "set-rotation", "state": True}]), _kms_case),
    # Custodian can stop a notebook but not disable its root access: ours compared on the stop alone.
    ("SageMaker notebook stop", "sagemaker-notebook-guard", {"DISABLE_ROOT_ACCESS": "false"},
     _policy("aws.sagemaker-notebook", "sagemaker.amazonaws.com", "CreateNotebookInstance",
             "requestParameters.notebookInstanceName", [{"RootAccess": "Enabled"}], [{"type": "stop"}]),
     _sagemaker_case),
]


def lambda_mode(binary, repeats):
    """Per control, one CloudTrail event for one non-compliant resource, each tool as Lambda runs it
    under the same local Runtime API: ours the release bootstrap, Custodian its own handler
    (`c7n.handler.dispatch_event`, the one its Lambda packages call) in a minimal Python runtime
    loop (`bench/python_runtime.py`), its policy in CloudTrail mode in `config.json`. Then the same
    event again, the resource now compliant."""
    python = os.path.abspath(os.path.join(os.path.dirname(binary), "python"))
    rows = []
    for control, function, settings, policy, case in CASES:
        with tempfile.TemporaryDirectory() as work:
            with open(os.path.join(work, "config.json"), "w") as f:
                json.dump(policy, f)
            tools = {
                f"ai-guard `{function}`": dict(name=function, env=settings),
                "Cloud Custodian (Lambda mode)": dict(name="custodian", cwd=work, argv=[
                    python, os.path.join(lb.ROOT, "bench/python_runtime.py"), "c7n.handler.dispatch_event"]),
            }
            for label, how in tools.items():
                lb.reset_estate()
                event, fixed = case()
                run = lambda e: lb.run_function(how["name"], e, how.get("env", {}), timeout=120,  # noqa: E731
                                                argv=how.get("argv"), cwd=how.get("cwd"))
                inits = sorted(run(None)[0] * 1000 for _ in range(repeats))
                _, latency, _, _, rss, fix_calls = run(event)
                done = fixed()
                compliant_calls = run(event)[5]
                # Warm: a second non-compliant resource's event to the same, already used instance.
                warm = lb.Instance(how["name"], how.get("env", {}), argv=how.get("argv"), cwd=how.get("cwd"))
                try:
                    warm.invoke(case("bench-peer-warm-1")[0], timeout=120)
                    warm_latency = warm.invoke(case("bench-peer-warm-2")[0], timeout=120)[0]
                finally:
                    warm.stop()
                rows.append((control, label, statistics.median(inits), inits[int(len(inits) * 0.9) - 1],
                             latency * 1000, fix_calls, compliant_calls, rss / 1024, done, warm_latency * 1000))
    return rows


# Lambda's on-demand prices in us-east-1 (first tier): $0.20 per million requests; duration per
# GB-second $0.0000133334 on arm64, $0.0000166667 on x86_64; billed per 1 ms, the init phase included.
REQUEST_PRICE = 0.20 / 1_000_000
GB_SECOND = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
PER_CALL_ON_AWS_MS = 20  # a modelled AWS API round trip (the emulator answers in about 1 ms)


def deployed():
    """Our functions' memory and architecture, from the template's Globals."""
    text = open(os.path.join(lb.ROOT, "template.yaml")).read()
    memory = int(re.search(r"^    MemorySize: (\d+)", text, re.M).group(1))
    arch = re.search(r"^    Architectures: \[(\w+)\]", text, re.M).group(1)
    return memory, arch


def cost(modes):
    """The Lambda bill of one million events per control and tool, from the measured durations."""
    our_memory, our_arch = deployed()
    # Custodian's Lambda mode defaults (c7n/mu.py PolicyLambda): 512 MB, the deploying machine's
    # architecture (x86_64 from a usual workstation or CI runner).
    sizes = {True: (our_memory, our_arch), False: (512, "x86_64")}

    def bill(ms, memory, arch):
        return 1_000_000 * (REQUEST_PRICE + math.ceil(ms) / 1000 * memory / 1024 * GB_SECOND[arch])

    lines = [
        "### Lambda cost of one million events\n",
        "From the durations measured above, at each tool's deployed size: ours as `template.yaml` deploys it "
        f"({our_memory} MB, {our_arch}); Custodian as its Lambda mode deploys by default (512 MB, x86_64: "
        "`c7n/mu.py`). Lambda's on-demand prices in us-east-1: $0.20 per million requests, per GB-second "
        "$0.0000133334 (arm64) or $0.0000166667 (x86_64), billed per millisecond, the init phase included. "
        "Warm = every event meets a warm instance; cold = every event starts one (init + first invocation): "
        "real traffic lies between. The last column models AWS's latency instead of the emulator's: the warm "
        f"duration plus {PER_CALL_ON_AWS_MS} ms for each AWS call of the fix (an estimate, not a measurement).\n",
        "| Control | Tool | Memory | Warm ($ per 1M) | Cold ($ per 1M) | Warm at "
        f"{PER_CALL_ON_AWS_MS} ms per AWS call ($ per 1M, modelled) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for control, label, init, _, first, fix, _, _, _, warm in modes:
        memory, arch = sizes[label.startswith("ai-guard")]
        lines.append(f"| {control} | {label} | {memory} MB {arch} | {bill(warm, memory, arch):.2f} | "
                     f"{bill(init + first, memory, arch):.2f} | {bill(warm + fix * PER_CALL_ON_AWS_MS, memory, arch):.2f} |")
    lines.append("")
    ratios = []
    for i in range(0, len(modes), 2):
        o, c = modes[i], modes[i + 1]
        om, oa = sizes[True]
        cm, ca = sizes[False]
        ratios.append(f"{o[0]} ×{bill(c[9], cm, ca) / bill(o[9], om, oa):.1f} warm, "
                      f"×{bill(c[2] + c[4], cm, ca) / bill(o[2] + o[4], om, oa):.1f} cold")
    lines.append("Custodian / ai-guard: " + "; ".join(ratios) + ". The $0.20 request charge is the floor of both; "
                 "above it the difference is the duration times the memory. "
                 + " ".join(f"{m[0]}: Custodian's run fixed nothing (see above)." for m in modes[1::2] if not m[8]) + "\n")
    return lines


def main(out_path, binary):
    version = subprocess.run([binary, "version"], capture_output=True, text=True).stdout.strip()
    o_time, o_calls, o_rss, o_n, o_left = ours()
    c_time, c_calls, c_rss, c_n, c_left = custodian(binary)
    modes = lambda_mode(binary, 20)
    lines = [
        "## Side by side: Cloud Custodian\n",
        f"Cloud Custodian {version} (`c7n`, pinned in `scripts/bench`, in its own virtualenv `.venv-peer`), "
        "in the same run, against the same emulator, on the same machine.\n",
        f"**Sweep of {BUCKETS:,} buckets, half without Block Public Access.** Ours: the scheduled sweep of "
        "`s3-public-access-block` (release bootstrap, `SWEEP_CONCURRENCY=8`; it also checks the account-level "
        "setting, one more resource). Custodian: `custodian run` of the equivalent pull-mode policy "
        "(`resource: aws.s3`, filter `check-public-block`, action `set-public-block`; `--cache-period 0`: a scheduled "
        "job starts without Custodian's local resource cache, which otherwise replays an earlier run's reads). Time = our invocation's "
        "response time / Custodian's process wall time; calls counted by the emulator; peak RSS of the process.\n",
        "| Tool | Resources | Time (s) | AWS calls | Calls / bucket | Peak RSS (MB) | Buckets left open after |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| ai-guard `s3-public-access-block` | {o_n} | {o_time:.2f} | {o_calls} | {o_calls / BUCKETS:.2f} | {o_rss:.1f} | {o_left} |",
        f"| Cloud Custodian | {c_n} | {c_time:.2f} | {c_calls} | {c_calls / BUCKETS:.2f} | {c_rss:.1f} | {c_left} |",
        "",
        f"Ratios (Custodian / ai-guard): time ×{c_time / o_time:.1f}, AWS calls ×{c_calls / o_calls:.1f}, "
        f"peak RSS ×{c_rss / o_rss:.1f}. The emulator answers in about a millisecond; on AWS each call takes tens "
        "of milliseconds, so the call counts, not these times, predict the difference there.\n",
        "**Lambda mode, one CloudTrail event per control** (`DeleteBucketPublicAccessBlock` for a bucket without "
        "Block Public Access; `DisableKeyRotation` for a key without rotation), both under the same local Runtime "
        "API (`CreateNotebookInstance` for a notebook with root access, Custodian's `stop` against ours with "
        "`DISABLE_ROOT_ACCESS=false`: Custodian cannot disable root access). Ours the release bootstrap; Custodian its Lambda handler (`c7n.handler.dispatch_event`) in a minimal "
        "Python runtime loop (`bench/python_runtime.py`; `awslambdaric` from PyPI crashed with SIGSEGV here), its "
        "policy in CloudTrail mode (`set-public-block`; `key-rotation-status` + `set-rotation`). Init = start until "
        "the first request for an event (median and p90 of 20 starts); first invocation = that event's response "
        "time; warm invocation = a second non-compliant resource's event to an instance that has already "
        "handled one (what most events meet on Lambda); calls per fix, then per compliant resource (the same event "
        "again), counted by the emulator.\n",
        "| Control | Tool | Init median (ms) | Init p90 (ms) | First invocation (ms) | Warm invocation (ms) | Calls per fix | Calls per compliant | Peak RSS (MB) | Fixed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for i in range(0, len(modes), 2):
        for control, label, init, p90, first, fix, compliant, rss, fixed, warm in modes[i:i + 2]:
            lines.append(f"| {control} | {label} | {init:.1f} | {p90:.1f} | {first:.1f} | {warm:.1f} | {fix} | {compliant} | {rss:.1f} | {'yes' if fixed else 'no'} |")
        o, c = modes[i], modes[i + 1]
        ratio = [f"×{c[k] / max(o[k], 1e-9):.1f}" for k in (2, 3, 4, 9, 5, 6, 7)]
        lines.append(f"| {o[0]} | **ratio Custodian / ai-guard** | " + " | ".join(ratio) + " | |")
    lines.append("")
    lines += [
        "SageMaker: Custodian's `sagemaker-notebook` resource does not carry `RootAccess` (neither its listing nor "
        "its get-by-id reads it), so the equivalent policy (filter `RootAccess: Enabled`, action `stop`) matches "
        "nothing and fixes nothing — its one call is the read; Custodian has no action to disable root access "
        "either. Controls Custodian lacks altogether: Bedrock invocation logging, the KMS rotation period and "
        "on-demand rotation, the KMS deletion guard.\n",
    ]
    lines += cost(modes)
    with open(out_path, "a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
