"""The organization sweep, side by side: N member accounts x 2 regions x 50 buckets (half without
Block Public Access) in the emulator's organization, swept by our hub's fan-out against
`c7n-org run` of Custodian's equivalent policy over the same accounts, at N and at 2N accounts.

Ours, as the hub runs on Lambda: the scheduled event goes to `s3-public-access-block` (release
bootstrap, hub settings) which queues one FIFO message per account, region and control; the jobs
are then delivered the way Lambda's SQS event source mapping delivers them with the template's
settings (batches of up to 10 messages, at most 5 concurrent function instances, successful
messages deleted, `batchItemFailures` left on the queue). That poller stands in for Lambda and its
own SQS calls are counted apart. Custodian: `c7n-org run` (its default worker pool) assuming the
same member role in every account. Appends a section to BENCHMARKS.md. Run by scripts/bench.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lambda_bench as lb  # noqa: E402
from peer_bench import POLICY  # noqa: E402  the same pull-mode policy as the single-account sweep
from peer_bench import open_buckets as peer_open_buckets  # noqa: E402

REGIONS = ["us-east-1", "us-west-2"]
BUCKETS_PER_REGION = 50
MEMBER_ROLE = "ai-guard-member"
BATCH_SIZE, MAX_CONCURRENCY = 10, 5  # the template's SweepsS3Jobs event source mapping
BPA = {k: True for k in ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"]}


def member_session(account):
    creds = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{MEMBER_ROLE}",
                                            RoleSessionName="bench-seed")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])


def seed(n_accounts):
    """The emulator's account is the management account (the hub); N members, each with 50 buckets
    in each region, every other one with Block Public Access."""
    lb.reset_estate()
    org = boto3.client("organizations")
    org.create_organization(FeatureSet="ALL")
    accounts = []
    for i in range(n_accounts):
        status = org.create_account(Email=f"member-{i:02d}@example.com", AccountName=f"member-{i:02d}")
        account = status["CreateAccountStatus"]["AccountId"]
        session = member_session(account)
        for region in REGIONS:
            s3 = session.client("s3", region_name=region)
            for b in range(BUCKETS_PER_REGION):
                name = f"org-{account}-{region}-{b:02d}"
                extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
                s3.create_bucket(Bucket=name, **extra)
                if b % 2:
                    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=BPA)
        accounts.append(account)
    return accounts


def open_buckets(accounts):
    return sum(peer_open_buckets(member_session(account).client("s3")) for account in accounts)


class TreeRss:
    """Samples the resident memory of a process tree every 50 ms: the largest process and the sum."""

    def __init__(self, roots):
        self.roots, self.peak_one, self.peak_sum, self.processes = set(roots), 0, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def tree(self):
        parents = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    parents[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
        found, grew = set(self.roots), True
        while grew:
            new = {p for p, parent in parents.items() if parent in found} - found
            found |= new
            grew = bool(new)
        return found

    def run(self):
        while not self.stop.wait(0.05):
            sizes = []
            for pid in self.tree():
                try:
                    with open(f"/proc/{pid}/status") as f:
                        sizes += [int(l.split()[1]) for l in f if l.startswith("VmRSS:")]
                except OSError:
                    pass
            if sizes:
                self.peak_one = max(self.peak_one, max(sizes))
                self.peak_sum = max(self.peak_sum, sum(sizes))
                self.processes = max(self.processes, len(sizes))

    def done(self):
        self.stop.set()
        self.thread.join()
        return self.peak_one / 1024, self.peak_sum / 1024, self.processes


def ours(accounts):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="bench-sweeps.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "1800"})["QueueUrl"]
    arn = f"arn:aws:sqs:us-east-1:{lb.ACCOUNT}:bench-sweeps.fifo"
    env = {"MEMBER_ROLE_NAME": MEMBER_ROLE, "REGIONS": ",".join(REGIONS), "SWEEP_QUEUE_URL": url,
           "EXCLUDED_ACCOUNTS": lb.ACCOUNT}  # the members only, as c7n-org's account list
    instances = [lb.Instance("s3-public-access-block", env) for _ in range(1 + MAX_CONCURRENCY)]
    rss = TreeRss(i.proc.pid for i in instances)
    scheduler, workers = instances[0], instances[1:]
    lb.harness("/_harness/requests?reset=1")
    polling = {"calls": 0}
    lock = threading.Lock()
    results = {"failures": 0, "jobs": 0}
    start = time.perf_counter()
    _, body = scheduler.invoke(lb.SCHEDULE)
    queued = json.loads(body).get("queued", 0)

    def poll(worker):
        idle = 0
        while idle < 3:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=BATCH_SIZE,
                                      MessageSystemAttributeNames=["MessageGroupId"])
            with lock:
                polling["calls"] += 1
            messages = got.get("Messages", [])
            if not messages:
                with lock:
                    finished = results["jobs"] >= queued
                idle = 3 if finished else idle + 1
                time.sleep(0.02)
                continue
            idle = 0
            records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                        "attributes": m.get("Attributes", {}), "messageAttributes": {}, "eventSource": "aws:sqs",
                        "eventSourceARN": arn, "awsRegion": "us-east-1"} for m in messages]
            _, answer = worker.invoke({"Records": records})
            answer = json.loads(answer)
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
            with lock:
                polling["calls"] += 1 if done else 0
                results["jobs"] += len(done)
                results["failures"] += len(failed)

    threads = [threading.Thread(target=poll, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    calls = lb.harness("/_harness/requests")["count"] - polling["calls"]
    peak_one, peak_sum, processes = rss.done()
    for i in instances:
        i.stop()
    # The jobs' answer is the batch's failures only; the buckets fixed are counted in the estate.
    buckets = len(accounts) * len(REGIONS) * BUCKETS_PER_REGION
    return dict(wall=wall, calls=calls, polling=polling["calls"], jobs=results["jobs"], queued=queued,
                failures=results["failures"], buckets=buckets, rss=peak_one, rss_sum=peak_sum,
                processes=processes, left=open_buckets(accounts))


def custodian(c7n_org, accounts):
    with tempfile.TemporaryDirectory() as work:
        config = os.path.join(work, "accounts.yml")
        with open(config, "w") as f:
            json.dump({"accounts": [{"account_id": a, "name": f"member-{i:02d}", "regions": REGIONS,
                                     "role": f"arn:aws:iam::{a}:role/{MEMBER_ROLE}"} for i, a in enumerate(accounts)]}, f)
        policy = os.path.join(work, "policy.yml")
        with open(policy, "w") as f:
            f.write(POLICY)
        os.mkdir(os.path.join(work, "cache"))
        argv = [c7n_org, "run", "-c", config, "-u", policy, "-s", os.path.join(work, "out"), "--cache-period", "0",
                "--cache-path", os.path.join(work, "cache")]
        for region in REGIONS:
            argv += ["-r", region]
        lb.harness("/_harness/requests?reset=1")
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rss = TreeRss([proc.pid])
        _, err = proc.communicate()
        wall = time.perf_counter() - start
        calls = lb.harness("/_harness/requests")["count"]
        peak_one, peak_sum, processes = rss.done()
        if proc.returncode != 0:
            raise SystemExit(f"c7n-org failed: {err[-2000:]}")
    return dict(wall=wall, calls=calls, rss=peak_one, rss_sum=peak_sum, processes=processes,
                buckets=len(accounts) * len(REGIONS) * BUCKETS_PER_REGION, left=open_buckets(accounts))


def main(out_path, c7n_org, n_accounts):
    runs = []
    for n in (n_accounts, 2 * n_accounts):
        accounts = seed(n)
        mine = ours(accounts)
        accounts = seed(n)
        theirs = custodian(c7n_org, accounts)
        runs.append((n, mine, theirs))
        print(f"{n} accounts: ours {mine}; custodian {theirs}", file=sys.stderr)
    version = subprocess.run([os.path.join(os.path.dirname(c7n_org), "python"), "-c",
                              "import importlib.metadata as m; print(m.version('c7n-org'))"],
                             capture_output=True, text=True).stdout.strip()
    workers = subprocess.run([os.path.join(os.path.dirname(c7n_org), "python"), "-c",
                              "import c7n_org.cli as c; print(c.WORKER_COUNT)"], capture_output=True, text=True).stdout.strip()
    lines = [
        "### Organization sweep\n",
        f"{n_accounts} and {2 * n_accounts} member accounts × {len(REGIONS)} regions × {BUCKETS_PER_REGION} buckets, "
        "half without Block Public Access, in the emulator's organization (its default account the management "
        "account and hub, excluded from the sweep as it is absent from c7n-org's account list). Ours: the hub's "
        "fan-out as deployed — the scheduled event to `s3-public-access-block` (release bootstrap, "
        f"`MEMBER_ROLE_NAME`, `REGIONS`, `SWEEP_QUEUE_URL`) queues one FIFO message per account, region and "
        f"control; a poller standing in for Lambda's SQS event source mapping delivers them with the template's "
        f"settings (batches of {BATCH_SIZE}, at most {MAX_CONCURRENCY} concurrent instances, one message group per "
        "account). Custodian: `c7n-org run` (c7n-org " + version + f", its default {workers} worker processes) of "
        "the pull-mode policy above, assuming the same member role in each account, `--cache-period 0`. Time = from "
        "the scheduled event to the last job's response / c7n-org's wall time; calls counted by the emulator (ours "
        "without the poller's `ReceiveMessage`/`DeleteMessageBatch`, shown apart: on AWS, Lambda makes them); peak "
        "RSS of the largest process and of the whole process tree, sampled every 50 ms. Command: "
        "`bench/org_bench.py BENCHMARKS.md .venv-peer/bin/c7n-org 20` (a step of `scripts/bench`).\n",
        "| Accounts | Tool | Buckets | Time (s) | AWS calls | Calls / bucket | Peak RSS, largest process (MB) | "
        "Peak RSS, all processes (MB) | Processes | Buckets left open after |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n, mine, theirs in runs:
        lines.append(f"| {n} | ai-guard hub (`s3-public-access-block`) | {mine['buckets']} | {mine['wall']:.2f} | "
                     f"{mine['calls']} (+{mine['polling']} SQS polling) | {mine['calls'] / max(mine['buckets'], 1):.2f} | "
                     f"{mine['rss']:.1f} | {mine['rss_sum']:.1f} | {mine['processes']} | {mine['left']} |")
        lines.append(f"| {n} | Cloud Custodian `c7n-org` | {theirs['buckets']} | {theirs['wall']:.2f} | {theirs['calls']} | "
                     f"{theirs['calls'] / theirs['buckets']:.2f} | {theirs['rss']:.1f} | {theirs['rss_sum']:.1f} | "
                     f"{theirs['processes']} | {theirs['left']} |")
    lines.append("")
    for n, mine, theirs in runs:
        lines.append(f"{n} accounts — Custodian / ai-guard: time ×{theirs['wall'] / mine['wall']:.1f}, AWS calls "
                     f"×{theirs['calls'] / mine['calls']:.1f}, peak RSS of all processes ×{theirs['rss_sum'] / mine['rss_sum']:.1f}.\n")
    (n1, m1, t1), (n2, m2, t2) = runs
    lines.append(f"Doubling the accounts ({n1} → {n2}): ours time ×{m2['wall'] / m1['wall']:.2f}, calls "
                 f"×{m2['calls'] / m1['calls']:.2f}; Custodian time ×{t2['wall'] / t1['wall']:.2f}, calls "
                 f"×{t2['calls'] / t1['calls']:.2f}. Jobs: ours queued {m1['queued']} and {m2['queued']} (account and "
                 f"bucket controls per account and region), {m1['failures'] + m2['failures']} returned to the queue. "
                 "Both are bounded here by the one emulator process answering every call (Python, one core's worth); "
                 "on AWS each account and region has its own rate limits and each call takes tens of milliseconds, "
                 "so the call counts and the per-account parallelism, not these times, predict the difference there.\n")
    with open(out_path, "a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 20)
