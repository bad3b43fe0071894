"""Resolve template.yaml the way CloudFormation does, for the template tests.

    python cfn.py TEMPLATE [--stack NAME] [--account ID] [--region R] [Param=Value ...]

Prints one JSON document:
    {"refused": "<why CloudFormation would refuse the parameters>"}
or
    {"resources": {"<logical id>": {"Type", "Properties", "Metadata", "DeletionPolicy",
                   "UpdateReplacePolicy", "Ref", "Attributes": {...}}},
     "outputs": {"<name>": value}}
with every intrinsic function resolved and every resource whose condition is false removed.

Steps, in CloudFormation's order:
1. Parameters: defaults, then the given values, checked against `AllowedValues`, `AllowedPattern`,
   `MinValue`/`MaxValue` and the type ("Parameter X failed to satisfy constraint").
2. `Rules`: a rule whose `RuleCondition` holds must have every `Assertion` true, or the stack is
   refused with its `AssertDescription` (CloudFormation user guide, "Rules").
3. The SAM transform, with AWS's own translator (`samtranslator`, the library behind
   `AWS::Serverless-2016-10-31`).
4. `Conditions`, then resources and outputs: a resource or output whose condition is false is not
   created; `Fn::If` picks its branch; `AWS::NoValue` removes the property or list item.
5. `Ref` and `Fn::GetAtt` return what AWS documents for each resource type ("Return values" of each
   type in the CloudFormation resource reference). The formats that matter, and that an emulator
   gets wrong, are in RETURN_VALUES below; a type or attribute not listed there is an error, so the
   tests never rely on a guessed format.
"""

import copy
import functools
import hashlib
import json
import os
import re
import sys

from cfnlint.decode import decode_str
from samtranslator.translator.transform import transform

PSEUDO = ("AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::StackName", "AWS::URLSuffix", "AWS::StackId")
NO_VALUE = object()


class Refused(Exception):
    pass


def physical_name(stack, logical, limit=64):
    """CloudFormation's generated name: <stack>-<logical id>-<random suffix>, cut to the type's limit."""
    suffix = hashlib.sha1(f"{stack}/{logical}".encode()).hexdigest()[:12].upper()
    head = f"{stack}-{logical}"[: limit - len(suffix) - 1]
    return f"{head}-{suffix}"


def key_id(stack, logical):
    h = hashlib.sha1(f"{stack}/{logical}/key".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def fifo_name(ctx):
    """A FIFO queue's generated name: CloudFormation appends `.fifo` but does not shorten the name
    to SQS's limit of 80 characters (cloudformation-coverage-roadmap#280): refused when longer."""
    name = f"{ctx['stack']}-{ctx['logical']}-" + hashlib.sha1(f"{ctx['stack']}/{ctx['logical']}".encode()).hexdigest()[:12].upper() + ".fifo"
    if len(name) > 80:
        raise Refused(f"{ctx['logical']}: FIFO queue name {name} is longer than 80 characters (a shorter stack name)")
    return name


def stack_uuid(stack):
    """The UUID that ends a stack's id (arn:...:stack/<name>/<uuid>)."""
    h = hashlib.sha1(f"{stack}/stack-id".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


# Names a template gives explicitly are not shortened: each type's documented maximum length (its
# page of the CloudFormation resource reference, and the service's API reference). A longer name
# fails the resource's creation, which this resolver reports as a refusal.
NAME_LIMITS = {
    ("AWS::SQS::Queue", "QueueName"): 80,  # including ".fifo" (SQS API reference, CreateQueue)
    ("AWS::Config::ConfigRule", "ConfigRuleName"): 128,
    ("AWS::IAM::Role", "RoleName"): 64,
    ("AWS::IAM::Role", "Path"): 512,
    ("AWS::S3::Bucket", "BucketName"): 63,
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::Events::EventBus", "Name"): 256,
    ("AWS::Events::Rule", "Name"): 64,
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,
    ("AWS::Lambda::Function", "FunctionName"): 64,
    ("AWS::SNS::Topic", "TopicName"): 256,
    ("AWS::DynamoDB::Table", "TableName"): 255,
}


def check_names(logical, kind, props):
    for (k, prop), limit in NAME_LIMITS.items():
        value = props.get(prop) if k == kind else None
        if isinstance(value, str) and len(value) > limit:
            raise Refused(f"{logical}: {prop} {value} is longer than {limit} characters")
    if kind == "AWS::SQS::Queue" and isinstance(props.get("QueueName"), str):
        if bool(props.get("FifoQueue")) != props["QueueName"].endswith(".fifo"):
            raise Refused(f"{logical}: a FIFO queue's name must end with .fifo, and only a FIFO queue's")
    if kind == "AWS::S3::Bucket" and isinstance(props.get("BucketName"), str):
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", props["BucketName"]):
            raise Refused(f"{logical}: invalid bucket name {props['BucketName']}")


# Return values, from each type's page of the CloudFormation resource reference.
# name(props, ctx) -> physical name; ref/attributes from the name.
def _named(prop, limit=64):
    return lambda props, ctx: props.get(prop) or physical_name(ctx["stack"], ctx["logical"], limit)


RETURN_VALUES = {
    # Ref: role name; Arn: arn:<partition>:iam::<account>:role<path><name> (path default "/").
    "AWS::IAM::Role": (
        _named("RoleName"),
        lambda n, props, c: n,
        {"Arn": lambda n, props, c: f"arn:{c['partition']}:iam::{c['account']}:role{props.get('Path', '/')}{n}",
         "RoleId": lambda n, props, c: "AROA" + hashlib.sha1(n.encode()).hexdigest()[:17].upper()},
    ),
    # Ref: log group name; Arn: ...:log-group:<name>:*  (note the trailing ":*").
    "AWS::Logs::LogGroup": (
        _named("LogGroupName", 512),
        lambda n, props, c: n,
        {"Arn": lambda n, props, c: f"arn:{c['partition']}:logs:{c['region']}:{c['account']}:log-group:{n}:*"},
    ),
    # Ref: queue URL; Arn; QueueName; QueueUrl.
    "AWS::SQS::Queue": (
        lambda props, ctx: props.get("QueueName") or fifo_name(ctx) if props.get("FifoQueue") else _named("QueueName", 80)(props, ctx),
        lambda n, props, c: f"https://sqs.{c['region']}.amazonaws.com/{c['account']}/{n}",
        {"Arn": lambda n, props, c: f"arn:{c['partition']}:sqs:{c['region']}:{c['account']}:{n}",
         "QueueName": lambda n, props, c: n,
         "QueueUrl": lambda n, props, c: f"https://sqs.{c['region']}.amazonaws.com/{c['account']}/{n}"},
    ),
    # Ref: topic ARN; TopicArn; TopicName.
    "AWS::SNS::Topic": (
        _named("TopicName", 256),
        lambda n, props, c: f"arn:{c['partition']}:sns:{c['region']}:{c['account']}:{n}",
        {"TopicArn": lambda n, props, c: f"arn:{c['partition']}:sns:{c['region']}:{c['account']}:{n}",
         "TopicName": lambda n, props, c: n},
    ),
    # Ref: function name; Arn.
    "AWS::Lambda::Function": (
        _named("FunctionName"),
        lambda n, props, c: n,
        {"Arn": lambda n, props, c: f"arn:{c['partition']}:lambda:{c['region']}:{c['account']}:function:{n}"},
    ),
    "AWS::Lambda::Permission": (_named("-"), lambda n, props, c: n, {}),
    # Ref: table name; Arn: ...:table/<name>.
    "AWS::DynamoDB::Table": (
        _named("TableName", 255),
        lambda n, props, c: n,
        {"Arn": lambda n, props, c: f"arn:{c['partition']}:dynamodb:{c['region']}:{c['account']}:table/{n}"},
    ),
    # Ref: bucket name; Arn: arn:<partition>:s3:::<name>.
    "AWS::S3::Bucket": (
        lambda props, ctx: props.get("BucketName") or physical_name(ctx["stack"], ctx["logical"], 63).lower(),
        lambda n, props, c: n,
        {"Arn": lambda n, props, c: f"arn:{c['partition']}:s3:::{n}"},
    ),
    "AWS::S3::BucketPolicy": (_named("-"), lambda n, props, c: n, {}),
    # Ref: key id; Arn: ...:key/<key id>; KeyId.
    "AWS::KMS::Key": (
        lambda props, ctx: key_id(ctx["stack"], ctx["logical"]),
        lambda n, props, c: n,
        {"Arn": lambda n, props, c: f"arn:{c['partition']}:kms:{c['region']}:{c['account']}:key/{n}",
         "KeyId": lambda n, props, c: n},
    ),
    "AWS::SSM::Document": (_named("Name", 128), lambda n, props, c: n, {}),
    # Ref: rule name.
    "AWS::Config::ConfigRule": (
        _named("ConfigRuleName", 128),
        lambda n, props, c: n,
        {"Arn": lambda n, props, c: f"arn:{c['partition']}:config:{c['region']}:{c['account']}:config-rule/config-rule-{hashlib.sha1(n.encode()).hexdigest()[:6]}"},
    ),
    "AWS::Config::RemediationConfiguration": (_named("-"), lambda n, props, c: n, {}),
    # Ref: rule name ("<bus>|<name>" on a custom bus); Arn.
    "AWS::Events::Rule": (
        _named("Name"),
        lambda n, props, c: n,
        {"Arn": lambda n, props, c: f"arn:{c['partition']}:events:{c['region']}:{c['account']}:rule/{n}"},
    ),
    # Ref: bus name; Arn: ...:event-bus/<name>; Name.
    "AWS::Events::EventBus": (
        _named("Name", 256),
        lambda n, props, c: n,
        {"Arn": lambda n, props, c: f"arn:{c['partition']}:events:{c['region']}:{c['account']}:event-bus/{n}",
         "Name": lambda n, props, c: n},
    ),
    # Ref: the statement id.
    "AWS::Events::EventBusPolicy": (_named("StatementId"), lambda n, props, c: n, {}),
    # Ref: the mapping's id.
    "AWS::Lambda::EventSourceMapping": (
        lambda props, ctx: key_id(ctx["stack"], ctx["logical"]),
        lambda n, props, c: n,
        {"EventSourceMappingArn": lambda n, props, c: f"arn:{c['partition']}:lambda:{c['region']}:{c['account']}:event-source-mapping:{n}"},
    ),
    # Ref: the parameter's name (its Name, else "CFN-<logical id>-<suffix>"); Type; Value.
    "AWS::SSM::Parameter": (
        lambda props, ctx: props.get("Name") or f"CFN-{ctx['logical']}-" + hashlib.sha1(f"{ctx['stack']}/{ctx['logical']}".encode()).hexdigest()[:12].upper(),
        lambda n, props, c: n,
        {"Type": lambda n, props, c: props["Type"],
         "Value": lambda n, props, c: props["Value"]},
    ),
    # Ref: the custom action's ARN, arn:<partition>:securityhub:<region>:<account>:action/custom/<Id>
    # (its primary identifier, ActionTargetArn, as in the custom action events' `resources`).
    "AWS::SecurityHub::ActionTarget": (
        lambda props, ctx: props["Id"],
        lambda n, props, c: f"arn:{c['partition']}:securityhub:{c['region']}:{c['account']}:action/custom/{n}",
        {"ActionTargetArn": lambda n, props, c: f"arn:{c['partition']}:securityhub:{c['region']}:{c['account']}:action/custom/{n}"},
    ),
    "AWS::CloudWatch::Alarm": (
        _named("AlarmName", 255),
        lambda n, props, c: n,
        {"Arn": lambda n, props, c: f"arn:{c['partition']}:cloudwatch:{c['region']}:{c['account']}:alarm:{n}"},
    ),
}


class Resolver:
    def __init__(self, template, params, ctx):
        self.t = template
        self.params = params
        self.ctx = ctx
        self.conditions = {}
        self.names = {}

    # --- conditions -----------------------------------------------------------------------------
    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = self.truth(self.t.get("Conditions", {})[name])
        return self.conditions[name]

    def truth(self, v):
        (fn, arg), = v.items()
        if fn == "Fn::Equals":
            a, b = (self.value(x) for x in arg)
            return str(a) == str(b)
        if fn == "Fn::And":
            return all(self.truth(x) for x in arg)
        if fn == "Fn::Or":
            return any(self.truth(x) for x in arg)
        if fn == "Fn::Not":
            return not self.truth(arg[0])
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Contains":
            return str(self.value(arg[1])) in [str(x) for x in self.value(arg[0])]
        if fn == "Fn::EachMemberEquals":
            return all(str(x) == str(self.value(arg[1])) for x in self.value(arg[0]))
        if fn == "Fn::EachMemberIn":
            allowed = [str(x) for x in self.value(arg[1])]
            return all(str(x) in allowed for x in self.value(arg[0]))
        raise ValueError(f"unsupported condition function {fn}")

    # --- values -----------------------------------------------------------------------------------
    def ref(self, name):
        pseudo = {
            "AWS::AccountId": self.ctx["account"],
            "AWS::Region": self.ctx["region"],
            "AWS::Partition": self.ctx["partition"],
            "AWS::StackName": self.ctx["stack"],
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:{self.ctx['partition']}:cloudformation:{self.ctx['region']}:{self.ctx['account']}:stack/{self.ctx['stack']}/{stack_uuid(self.ctx['stack'])}",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        return self.resource_value(name, None)

    def resource_value(self, logical, attribute):
        resources = self.t["Resources"]
        if logical not in resources:
            raise ValueError(f"unknown resource {logical}")
        res = resources[logical]
        if "Condition" in res and not self.condition(res["Condition"]):
            raise ValueError(f"{logical} is not created (condition {res['Condition']} is false) but is referenced")
        kind = res["Type"]
        if kind not in RETURN_VALUES:
            raise ValueError(f"no documented return values for {kind} ({logical}) in cfn.py")
        name_of, ref_of, attrs = RETURN_VALUES[kind]
        ctx = dict(self.ctx, logical=logical)
        props = self.value(res.get("Properties", {}))
        if logical not in self.names:
            self.names[logical] = name_of(props, ctx)
        name = self.names[logical]
        if attribute is None:
            return ref_of(name, props, ctx)
        if attribute not in attrs:
            raise ValueError(f"no documented attribute {kind}.{attribute} in cfn.py")
        return attrs[attribute](name, props, ctx)

    def sub(self, text, variables):
        def one(m):
            inner = m.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                value = variables[inner]
            elif "." in inner and not inner.startswith("AWS::"):
                logical, attribute = inner.split(".", 1)
                value = self.resource_value(logical, attribute)
            else:
                value = self.ref(inner)
            if not isinstance(value, str):
                raise ValueError(f"Fn::Sub ${{{inner}}} is not a string: {value!r}")
            return value

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def value(self, v):
        if isinstance(v, list):
            items = [self.value(x) for x in v]
            return [x for x in items if x is not NO_VALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (fn, arg), = v.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.resource_value(logical, attribute)
            if fn == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, variables = arg
                return self.sub(text, {k: self.value(x) for k, x in variables.items()})
            if fn == "Fn::If":
                name, yes, no = arg
                return self.value(yes if self.condition(name) else no)
            if fn == "Fn::Join":
                sep, items = arg
                return sep.join(str(x) for x in self.value(items))
            if fn == "Fn::Split":
                sep, text = arg
                return str(self.value(text)).split(sep)
            if fn == "Fn::Select":
                index, items = arg
                items = self.value(items)
                index = int(self.value(index))
                if not 0 <= index < len(items):
                    raise Refused(f"Template error: Fn::Select cannot select nonexistent value at index {index}")
                return items[index]
            if fn.startswith("Fn::") or fn == "Condition":
                raise ValueError(f"unsupported intrinsic function {fn}")
        out = {}
        for k, x in v.items():
            x = self.value(x)
            if x is not NO_VALUE:
                out[k] = x
        return out


def parameters(template, given):
    values = {}
    for name, p in template.get("Parameters", {}).items():
        if name in given:
            raw = given[name]
        elif "Default" in p:
            raw = str(p["Default"])
        else:
            raise Refused(f"Parameters: [{name}] must have values")
        kind = p.get("Type", "String")
        fail = f"Parameter '{name}' failed to satisfy constraint: {p.get('ConstraintDescription', '')}".rstrip(": ")
        if "AllowedValues" in p and raw not in [str(x) for x in p["AllowedValues"]]:
            raise Refused(f"Parameter '{name}' must be one of AllowedValues")
        # A CommaDelimitedList's pattern must match each value of the list (CloudFormation user
        # guide, "Parameters": AllowedPattern), each value space-trimmed ("Parameters": Type).
        items = [x.strip() for x in raw.split(",")] if kind == "CommaDelimitedList" else [raw]
        if "AllowedPattern" in p and not all(re.fullmatch(p["AllowedPattern"], x) for x in items):
            raise Refused(fail)
        if ("MaxLength" in p and len(raw) > int(p["MaxLength"])) or ("MinLength" in p and len(raw) < int(p["MinLength"])):
            raise Refused(fail)
        if kind == "Number":
            try:
                number = float(raw)
            except ValueError:
                raise Refused(f"Parameter '{name}' must be a number")
            if ("MinValue" in p and number < float(p["MinValue"])) or ("MaxValue" in p and number > float(p["MaxValue"])):
                raise Refused(fail)
        values[name] = items if kind == "CommaDelimitedList" else raw
    unknown = set(given) - set(template.get("Parameters", {}))
    if unknown:
        raise Refused(f"Parameters: {sorted(unknown)} do not exist in the template")
    return values


def rules(resolver):
    for name, rule in resolver.t.get("Rules", {}).items():
        if "RuleCondition" in rule and not resolver.truth(rule["RuleCondition"]):
            continue
        for assertion in rule["Assertions"]:
            if not resolver.truth(assertion["Assert"]):
                raise Refused(f"Rule {name}: {assertion.get('AssertDescription', 'assertion failed')}")


class NoManagedPolicies:
    def load(self):
        return {}


@functools.lru_cache(maxsize=None)
def load(path):
    template, errors = decode_str(open(path).read())
    if errors:
        raise SystemExit(f"{path}: {errors}")
    return json.dumps(template)


def resolve(path, given, stack="ai-guard", account="123456789012", region="us-east-1"):
    template = json.loads(load(path))
    ctx = {"stack": stack, "account": account, "region": region,
           "partition": "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"}
    try:
        params = parameters(template, given)
        rules(Resolver(template, params, ctx))
        # What `sam package` does before CloudFormation sees the template: local code is uploaded
        # and CodeUri becomes its S3 location.
        for logical, res in template["Resources"].items():
            uri = res.get("Properties", {}).get("CodeUri")
            if res["Type"] == "AWS::Serverless::Function" and isinstance(uri, str) and not uri.startswith("s3://"):
                res["Properties"]["CodeUri"] = f"s3://{stack}-artifacts/{logical}.zip"
        if "Transform" in template:
            pseudo = {"AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": ctx["partition"],
                      "AWS::StackName": stack}
            os.environ["AWS_DEFAULT_REGION"] = region  # samtranslator's boto3 session asks for one
            template = transform(copy.deepcopy(template), dict(params, **pseudo), NoManagedPolicies())
        r = Resolver(template, params, ctx)
        resources = {}
        for logical, res in template["Resources"].items():
            if "Condition" in res and not r.condition(res["Condition"]):
                continue
            props = r.value(res.get("Properties", {}))
            check_names(logical, res["Type"], props)
            resources[logical] = {
                "Type": res["Type"],
                "Properties": props,
                "Metadata": res.get("Metadata", {}),
                "DeletionPolicy": res.get("DeletionPolicy", "Delete"),
                "UpdateReplacePolicy": res.get("UpdateReplacePolicy", "Delete"),
                "Ref": r.resource_value(logical, None),
                "Attributes": {a: r.resource_value(logical, a) for a in RETURN_VALUES[res["Type"]][2]},
            }
        outputs = {}
        for name, out in template.get("Outputs", {}).items():
            if "Condition" in out and not r.condition(out["Condition"]):
                continue
            outputs[name] = r.value(out["Value"])
    except Refused as e:
        return {"refused": str(e)}
    return {"resources": resources, "outputs": outputs}


def batch(path):
    """`--batch`: stdin is a JSON list of {"params": {...}, "stack"?, "account"?, "region"?};
    stdout the list of their resolutions, in order (one process for many parameter sets)."""
    out = []
    for job in json.load(sys.stdin):
        options = {k: job[k] for k in ("stack", "account", "region") if k in job}
        out.append(resolve(path, job.get("params", {}), **options))
    json.dump(out, sys.stdout, sort_keys=True)


def main(argv):
    path, rest = argv[0], argv[1:]
    if rest == ["--batch"]:
        return batch(path)
    options = {"stack": "ai-guard", "account": "123456789012", "region": "us-east-1"}
    given = {}
    i = 0
    while i < len(rest):
        if rest[i].startswith("--"):
            options[rest[i][2:]] = rest[i + 1]
            i += 2
        else:
            k, _, v = rest[i].partition("=")
            given[k] = v
            i += 1
    json.dump(resolve(path, given, **options), sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
