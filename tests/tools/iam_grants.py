"""Print, per function binary in template.yaml, the IAM statements its role grants, as JSON.

Used by tests/tests/least_privilege.rs to compare each role with the operations the function's code
declares. Reads the template with cfn-lint's CloudFormation-aware YAML loader (short-form tags such
as !Sub and !GetAtt become their long forms). Statements and actions under Fn::If count with their true branch.

Output: {"<binary>": [{"actions": [...], "resources": [...]}, ...], ...}
"""

import json
import sys

from cfnlint.decode import decode_str


def as_list(value):
    return value if isinstance(value, list) else [value]


NO_VALUE = {"Ref": "AWS::NoValue"}


def resolve(value):
    """Fn::If counts with its true branch (the most a role can grant); AWS::NoValue disappears."""
    if isinstance(value, dict) and "Fn::If" in value:
        return resolve(value["Fn::If"][1])
    if isinstance(value, list):
        return [resolve(v) for v in value if resolve(v) != NO_VALUE]
    return value


def statements(policy_document):
    for statement in as_list(policy_document.get("Statement", [])):
        statement = resolve(statement)
        if isinstance(statement, dict) and statement.get("Effect") == "Allow":
            yield {k: resolve(v) for k, v in statement.items()}


def main(path):
    template, errors = decode_str(open(path).read())
    if errors:
        sys.exit(f"{path}: {errors}")
    resources = template["Resources"]
    grants = {}
    for resource in resources.values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        role_ref = resource["Properties"]["Role"]["Fn::GetAtt"]
        role_name = role_ref[0] if isinstance(role_ref, list) else role_ref.split(".")[0]
        role = resources[role_name]["Properties"]
        found = []
        for policy in role.get("Policies", []):
            for statement in statements(policy["PolicyDocument"]):
                found.append(
                    {
                        "actions": as_list(statement["Action"]),
                        "resources": [json.dumps(r) if not isinstance(r, str) else r for r in as_list(statement["Resource"])],
                    }
                )
        grants[binary] = found
    json.dump(grants, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
