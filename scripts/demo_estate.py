"""The demo's AI estate on the emulator: `seed` creates it misconfigured; `table` prints the
before/after table from the scans and the functions' responses.

Used by scripts/demo; talks to the emulator through AWS_ENDPOINT_URL like every other client.
"""

import json
import sys

import boto3

ACCOUNT = "123456789012"


def seed():
    s3 = boto3.client("s3")
    # Training buckets without Block Public Access (one half-open), one exempt, one already safe.
    for name in ["ai-training-data-example", "llm-finetune-corpus", "public-model-cards", "ml-artifacts-secure"]:
        s3.create_bucket(Bucket=name)
    s3.put_public_access_block(
        Bucket="llm-finetune-corpus",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    s3.put_public_access_block(
        Bucket="ml-artifacts-secure",
        PublicAccessBlockConfiguration={k: True for k in ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"]},
    )
    # Account-level Block Public Access: a new emulator has none, like a new account.
    # Bedrock's known-good destinations (scripts/demo's BEDROCK_LOG_*), as a user would have them:
    # Bedrock validates them when logging is configured. Then logging deleted (the attacker's
    # first move).
    s3.create_bucket(Bucket="ai-guard-bedrock-logs")
    boto3.client("logs").create_log_group(logGroupName="/ai-guard/bedrock/invocations")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    boto3.client("iam").create_role(RoleName="ai-guard-bedrock-logging", AssumeRolePolicyDocument=json.dumps(trust))
    boto3.client("bedrock").delete_model_invocation_logging_configuration()
    # Notebooks: root access and direct internet access by default; one with direct access only; one safe.
    sm = boto3.client("sagemaker")
    role = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"
    sm.create_notebook_instance(NotebookInstanceName="llm-finetune-notebook", InstanceType="ml.t3.medium", RoleArn=role)
    sm.create_notebook_instance(
        NotebookInstanceName="feature-eng-notebook", InstanceType="ml.t3.medium", RoleArn=role, RootAccess="Disabled"
    )
    sm.create_notebook_instance(
        NotebookInstanceName="secure-notebook",
        InstanceType="ml.t3.medium",
        RoleArn=role,
        RootAccess="Disabled",
        DirectInternetAccess="Disabled",
    )
    # Customer keys without rotation, and an asymmetric key rotation does not apply to.
    kms = boto3.client("kms")
    key = kms.create_key(Description="fine-tuning dataset encryption")["KeyMetadata"]["KeyId"]
    kms.create_key(Description="feature store encryption")
    kms.create_key(Description="model signing", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    # A key the deletion guard protects (scripts/demo's PROTECTED_KEYS=alias/ai-*), rotating, then
    # scheduled for deletion: the quiet way to destroy the data it encrypts.
    protected = kms.create_key(Description="model artifacts encryption")["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=protected, RotationPeriodInDays=365)
    kms.create_alias(AliasName="alias/ai-models", TargetKeyId=protected)
    kms.schedule_key_deletion(KeyId=protected, PendingWindowInDays=7)
    # Detection turned off: a trail that is not logging, a GuardDuty detector disabled.
    s3.create_bucket(Bucket="ai-guard-trail-logs")
    boto3.client("cloudtrail").create_trail(Name="ai-audit", S3BucketName="ai-guard-trail-logs", IsMultiRegionTrail=True)
    gd = boto3.client("guardduty")
    detector = gd.create_detector(Enable=True, Features=[{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}])["DetectorId"]
    gd.update_detector(DetectorId=detector, Enable=False)
    # The key the sample CreateKey event names.
    print(key)


def org_seed():
    """An organization whose `workloads` OU holds three member accounts with the same AI estate
    (a bucket without Block Public Access, a key without rotation, a root-enabled notebook), and a
    `sandbox` OU the hub must not touch. Prints the workloads OU id."""
    org = boto3.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    units = {
        name: org.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]["Id"]
        for name in ["workloads", "sandbox"]
    }
    for name, unit in [("team-a", "workloads"), ("team-b", "workloads"), ("team-c", "workloads"), ("sandbox", "sandbox")]:
        account = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=units[unit])
        creds = boto3.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="demo-seed"
        )["Credentials"]
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        session.client("s3").create_bucket(Bucket=f"ai-training-{name}-{account}")
        session.client("kms").create_key(Description=f"{name} fine-tuning data")
        session.client("sagemaker").create_notebook_instance(
            NotebookInstanceName=f"{name}-notebook",
            InstanceType="ml.t3.medium",
            RoleArn=f"arn:aws:iam::{account}:role/SageMakerExecution",
        )
        print(f"  {name:8} {account} ({unit})", file=sys.stderr)
    print(units["workloads"])


def org_table(fix_path):
    """The hub's fix, per account: resources, fixed, still open (exit 1 if any is open)."""
    rows = json.load(open(fix_path))
    accounts = sorted({r["account"] for r in rows})
    print(f"{'ACCOUNT':14}{'REGION':12}{'RESOURCES':>10}{'NON-COMPLIANT BEFORE':>22}{'FIXED':>7}{'OPEN AFTER':>12}")
    for account in accounts:
        mine = [r for r in rows if r["account"] == account]
        before = sum(1 for r in mine if r["before"].startswith("non-compliant"))
        fixed = sum(1 for r in mine if r.get("outcome") == "remediated")
        left = sum(1 for r in mine if r["open"])
        print(f"{account:14}{mine[0]['region']:12}{len(mine):>10}{before:>22}{fixed:>7}{left:>12}")
    for r in rows:
        if r["open"]:
            print(f"  still non-compliant: {r['account']} {r['resource']} ({r['control']}): {r['detail']}")
    return 1 if any(r["open"] for r in rows) else 0


def _member_sessions():
    """(name, account, boto3 session) of each workloads account, through the organization's role."""
    org = boto3.client("organizations")
    out = []
    for account in org.list_accounts()["Accounts"]:
        if account["Name"] not in ("team-a", "team-b", "team-c"):
            continue
        creds = boto3.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account['Id']}:role/OrganizationAccountAccessRole", RoleSessionName="demo-gov"
        )["Credentials"]
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        out.append((account["Name"], account["Id"], session))
    return sorted(out)


POLICY_PARAMETER = "/ai-guard/remediation-policy"
APPROVALS_TABLE = "ai-guard-approvals"


def gov_seed():
    """Governed remediation: in each workloads account someone creates a notebook with root access
    and a key without rotation. The remediation policy: enforce by default, team-b only notified,
    key rotation approved by a human. Prints team-b's id."""
    members = _member_sessions()
    for name, account, session in members:
        session.client("sagemaker").create_notebook_instance(
            NotebookInstanceName=f"gov-{name}-notebook",
            InstanceType="ml.t3.medium",
            RoleArn=f"arn:aws:iam::{account}:role/SageMakerExecution",
        )
        session.client("kms").create_key(Description=f"{name} embeddings")
    team_b = next(account for name, account, _ in members if name == "team-b")
    policy = {
        "version": 1,
        "defaultMode": "enforce",
        "rules": [
            {"mode": "notify", "accounts": [team_b]},
            {"mode": "approve", "controls": ["kms-key-rotation"]},
        ],
        "limits": {"writesPerInvocation": 25},
        "approval": {"expiresAfterHours": 72},
    }
    boto3.client("ssm").put_parameter(Name=POLICY_PARAMETER, Value=json.dumps(policy), Type="String", Overwrite=True)
    boto3.client("dynamodb").create_table(
        TableName=APPROVALS_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    print(json.dumps(policy, indent=2), file=sys.stderr)
    print(team_b)


def gov_approve_event(fix_path, template_path, team):
    """Security Hub's custom-action event for the KMS.4 findings of `team`'s keys whose rotation
    waits for approval: what a human choosing "ai-guard approve" on them sends."""
    rows = json.load(open(fix_path))
    account = next(a for n, a, _ in _member_sessions() if n == team)
    event = json.load(open(template_path))
    finding = event["detail"]["findings"][0]
    findings = []
    for r in rows:
        if r["account"] == account and r["control"] == "kms-key-rotation" and r.get("outcome") == "pending":
            f = json.loads(json.dumps(finding))
            f["Id"] = f"{r['resource']}/finding/kms-4"
            f["AwsAccountId"] = account
            f["Resources"][0]["Id"] = r["resource"]
            findings.append(f)
    event["detail-type"] = "Security Hub Findings - Custom Action"
    event["resources"] = [f"arn:aws:securityhub:us-east-1:{ACCOUNT}:action/custom/AiGuardApprove"]
    event["detail"] = {"actionName": "ai-guard approve", "actionDescription": "Apply the proposed fix", "findings": findings}
    print(json.dumps(event, indent=2))


def gov_table(fix_path, approve_path):
    """Per account and control: the mode the policy chose, the outcome, and after the approval.
    Exit 1 unless enforce fixed, notify wrote nothing, and approve waited and then fixed."""
    rows = [r for r in json.load(open(fix_path)) if r.get("outcome") and r["resource"].split(":")[-1] != "account"]
    approved = {(r["account"], r["resource"]): r["outcome"] for r in json.load(open(approve_path))}
    names = {a: n for n, a, _ in _member_sessions()}
    print(f"{'ACCOUNT':10}{'CONTROL':32}{'MODE':9}{'OUTCOME':17}{'AFTER APPROVAL':16}RESOURCE")
    ok = True
    for r in sorted(rows, key=lambda r: (names.get(r["account"], r["account"]), r["control"])):
        if r["account"] not in names or r["outcome"] in ("compliant", "not_applicable", "exempt"):
            continue
        after = approved.get((r["account"], r["resource"]), "-")
        name = names[r["account"]]
        print(f"{name:10}{r['control']:32}{r.get('mode') or '-':9}{r['outcome']:17}{after:16}{r['resource']}")
        expected = {"notify": "would_remediate", "enforce": "remediated", "approve": "pending"}.get(r.get("mode"))
        if expected and r["outcome"] != expected:
            ok = False
        if name == "team-a" and r.get("mode") == "approve" and after != "remediated":
            ok = False
    if not ok:
        print("  unexpected: enforce must fix, notify write nothing, approve wait for the approval")
    return 0 if ok else 1


def table(before_path, after_path, responses_path):
    before = {(r["control"], r["resource"]): r for r in json.load(open(before_path))}
    after = {(r["control"], r["resource"]): r for r in json.load(open(after_path))}
    outcomes = {}
    for line in open(responses_path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        for result in json.loads(line).get("results", []):
            key = (result["control"], result["resource"])
            # A fix anywhere in the run is the outcome worth showing.
            if outcomes.get(key) != "remediated":
                outcomes[key] = result["outcome"]
    rows = [("RESOURCE", "CONTROL", "BEFORE", "OUTCOME", "AFTER")]
    left = []
    for key in sorted(set(before) | set(after), key=lambda k: (k[0], k[1])):
        b = before.get(key, {}).get("before", "-")
        a = after.get(key, {}).get("after", "-")
        rows.append((key[1], key[0], b, outcomes.get(key, "-"), a))
        if after.get(key, {}).get("open"):
            left.append(key)
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip())
    fixed = sum(1 for o in outcomes.values() if o == "remediated")
    print(f"\n{len(rows) - 1} resources, {fixed} fixed by the functions, {len(left)} still non-compliant")
    for key in left:
        print(f"  still non-compliant: {key[1]} ({key[0]})")
    return 1 if left else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["seed"]:
        seed()
    elif sys.argv[1:2] == ["table"]:
        sys.exit(table(*sys.argv[2:5]))
    elif sys.argv[1:2] == ["org-seed"]:
        org_seed()
    elif sys.argv[1:2] == ["org-table"]:
        sys.exit(org_table(sys.argv[2]))
    elif sys.argv[1:2] == ["gov-seed"]:
        gov_seed()
    elif sys.argv[1:2] == ["gov-approve-event"]:
        gov_approve_event(*sys.argv[2:5])
    elif sys.argv[1:2] == ["gov-table"]:
        sys.exit(gov_table(*sys.argv[2:4]))
    else:
        sys.exit("usage: demo_estate.py seed | table BEFORE.json AFTER.json RESPONSES.jsonl | org-seed | org-table FIX.json | gov-seed | gov-approve-event FIX.json TEMPLATE.json TEAM | gov-table FIX.json APPROVE.json")
