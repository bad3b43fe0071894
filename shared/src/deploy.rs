//! The deployment's per-function parts, generated from the registry and the operations' IAM
//! facts, so that no list of functions, events or permissions is typed twice. Today: the member
//! template's roles — one per function, trusting only that function's hub role and granting
//! exactly its controls' operations — with their conditions and output, and the event patterns of
//! the rules that forward an account's events to the hub (both templates). Each generated block
//! sits between a `# BEGIN GENERATED <name>` and an `# END GENERATED <name>` line; `remediate
//! generate` rewrites them, and a test fails when a checked-in template differs from what this
//! module produces.

use std::fmt::Write;

use crate::aws::{IamResource, Implied, Operation};
use crate::config_rule::PUT_EVALUATIONS;
use crate::control::ControlSpec;
use crate::functions::{Function, FUNCTIONS};

/// The member template, relative to the repository.
pub const MEMBER_TEMPLATE: &str = "member-template.yaml";

/// One generated block of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub name: String,
    pub text: String,
}

/// The stack template, relative to the repository.
pub const TEMPLATE: &str = "template.yaml";

/// Every template with generated blocks, and its blocks.
pub fn generated() -> Vec<(&'static str, Vec<Block>)> {
    vec![
        (MEMBER_TEMPLATE, member_template_blocks()),
        (TEMPLATE, template_blocks()),
    ]
}

/// The event patterns of the rules that forward an account's events to the hub (the member
/// template's `Forward*` rules, the hub stack's `HubForward*` rules for its own account): every
/// CloudTrail call and state change the registry's controls listen to.
pub fn forwarding_blocks() -> Vec<Block> {
    vec![
        Block {
            name: "forwarded API calls".to_owned(),
            text: forwarded_api_calls(),
        },
        Block {
            name: "forwarded state changes".to_owned(),
            text: forwarded_state_changes(),
        },
    ]
}

/// `s3.amazonaws.com` → `aws.s3`: the EventBridge source of a CloudTrail event source.
fn eventbridge_source(event_source: &str) -> String {
    format!(
        "aws.{}",
        event_source
            .strip_suffix(".amazonaws.com")
            .unwrap_or(event_source)
    )
}

fn push_new<'a>(list: &mut Vec<&'a str>, item: &'a str) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The CloudTrail event sources and event names `specs` listen to, each once, in order.
fn api_calls<'a>(
    specs: impl Iterator<Item = &'a &'static ControlSpec>,
) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut sources: Vec<&str> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for spec in specs.filter(|s| !s.cloudtrail_events.is_empty()) {
        push_new(&mut sources, spec.event_source);
        for name in spec.cloudtrail_events {
            push_new(&mut names, name);
        }
    }
    (sources, names)
}

/// The forwarded CloudTrail records: the registry's event sources and event names, successful
/// calls only.
pub fn forwarded_api_calls() -> String {
    let (sources, names) = api_calls(FUNCTIONS.iter().flat_map(|f| f.specs.iter()));
    let bridge: Vec<String> = sources.iter().map(|s| eventbridge_source(s)).collect();
    let mut out =
        String::from("      EventPattern:\n        detail-type: [AWS API Call via CloudTrail]\n");
    let _ = writeln!(out, "        source: [{}]", bridge.join(", "));
    let _ = writeln!(out, "        detail:");
    api_call_detail(&mut out, 10, &sources, &names);
    out
}

/// A CloudTrail pattern's `detail` at `indent`: the event sources and names, successful calls.
fn api_call_detail(out: &mut String, indent: usize, sources: &[&str], names: &[&str]) {
    let _ = writeln!(out, "{:indent$}eventSource: [{}]", "", sources.join(", "));
    let _ = writeln!(out, "{:indent$}eventName:", "");
    for name in names {
        let _ = writeln!(out, "{:indent$}  - {name}", "");
    }
    let _ = writeln!(out, "{:indent$}errorCode: [{{exists: false}}]", "");
}

/// Each function's own rule for the CloudTrail records its controls listen to (on the hub's bus
/// or the default one): its event source and event names, this account's successful calls only
/// (any account's on a hub's bus, which accepts the organization only).
pub fn function_api_calls(function: &Function) -> String {
    let (sources, names) = api_calls(function.specs.iter());
    let bridge: Vec<String> = sources.iter().map(|s| eventbridge_source(s)).collect();
    let mut out = String::new();
    let _ = writeln!(out, "              source: [{}]", bridge.join(", "));
    out.push_str(
        "              detail-type: [AWS API Call via CloudTrail]
              # Only this account's own events: an event relayed from another account (a forwarding
              # bus) is not this function's to act on.
              account: !If [Hub, [{exists: true}], [!Ref AWS::AccountId]]
              detail:
",
    );
    api_call_detail(&mut out, 16, &sources, &names);
    out
}

/// The hub's `HubRoleArns` output: every function's role in the registry's order, empty for a
/// function not deployed (the member template selects each member role's trusted role by it).
pub fn hub_role_arns() -> String {
    let mut out = String::new();
    for (i, f) in FUNCTIONS.iter().enumerate() {
        let lead = if i == 0 { "      - - " } else { "        - " };
        let _ = writeln!(
            out,
            "{lead}!If [{}On, !GetAtt {}Role.Arn, \"\"]",
            f.stem, f.logical
        );
    }
    out
}

/// The stack template's generated blocks: the forwarding patterns, each function's own rule
/// for CloudTrail records, and the hub's role list.
pub fn template_blocks() -> Vec<Block> {
    let mut blocks = forwarding_blocks();
    blocks.push(Block {
        name: "hub role arns".to_owned(),
        text: hub_role_arns(),
    });
    blocks.extend(FUNCTIONS.iter().map(|f| Block {
        name: format!("{} API calls", f.name),
        text: function_api_calls(f),
    }));
    blocks
}

/// The forwarded state changes: the registry's state-change events.
pub fn forwarded_state_changes() -> String {
    let mut sources: Vec<String> = Vec::new();
    let mut types: Vec<&str> = Vec::new();
    for spec in FUNCTIONS.iter().flat_map(|f| f.specs.iter()) {
        for change in spec.state_change_events {
            let source = eventbridge_source(spec.event_source);
            if !sources.contains(&source) {
                sources.push(source);
            }
            push_new(&mut types, change.detail_type);
        }
    }
    format!(
        "      EventPattern:\n        source: [{}]\n        detail-type: [{}]\n",
        sources.join(", "),
        types.join(", ")
    )
}

/// The member template's generated blocks.
pub fn member_template_blocks() -> Vec<Block> {
    let mut blocks = forwarding_blocks();
    blocks.extend([
        Block {
            name: "member role conditions".to_owned(),
            text: member_role_conditions(),
        },
        Block {
            name: "member roles".to_owned(),
            text: member_roles(),
        },
        Block {
            name: "member role output".to_owned(),
            text: member_role_output(),
        },
    ]);
    blocks
}

/// `template` with each block's text between its markers (the markers kept), or what is wrong.
pub fn with_blocks(template: &str, blocks: &[Block]) -> Result<String, String> {
    let mut out = template.to_owned();
    for block in blocks {
        let begin = format!("# BEGIN GENERATED {}\n", block.name);
        let end = format!("# END GENERATED {}", block.name);
        let start = out
            .find(&begin)
            .map(|i| i + begin.len())
            .ok_or_else(|| format!("no `{}` line", begin.trim_end()))?;
        let stop = out[start..]
            .find(&end)
            .map(|i| start + i)
            .ok_or_else(|| format!("no `{end}` line after its BEGIN"))?;
        // The END marker keeps its own indentation.
        let stop = out[..stop].rfind('\n').map_or(stop, |i| i + 1);
        out.replace_range(start..stop, &block.text);
    }
    Ok(out)
}

/// What a function's member role may do: its controls' operations (their tag reads included,
/// for `EXEMPT_TAG`) and answering AWS Config in the member account.
fn member_operations(function: &Function) -> Vec<Operation> {
    let mut ops: Vec<Operation> = function
        .specs
        .iter()
        .flat_map(|s| s.operations.iter().chain(s.tag_operation.iter()))
        .copied()
        .collect();
    ops.push(PUT_EVALUATIONS);
    ops
}

/// An operation's ARN pattern as the member role grants it: in every region of its account.
fn member_arn(pattern: &str) -> String {
    pattern
        .replace("{partition}", "${AWS::Partition}")
        .replace("{region}", "*")
        .replace("{account}", "${AWS::AccountId}")
}

/// A statement id for the resources `pattern` names: `Keys` for `…:key/*`, `Buckets` for S3's.
fn sid(pattern: &str) -> String {
    let resource = pattern.splitn(6, ':').nth(5).unwrap_or_default();
    let kind = resource.split(['/', '*']).next().unwrap_or_default();
    if kind.is_empty() {
        return "Buckets".to_owned();
    }
    let mut sid: String = kind
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    sid.push('s');
    sid
}

/// A YAML comment at `indent`, wrapped at 100 columns.
fn comment(out: &mut String, indent: usize, text: &str) {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + 2 + line.len() + 1 + word.len() > 100 {
            let _ = writeln!(out, "{:indent$}# {line}", "");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{:indent$}# {line}", "");
    }
}

fn actions(out: &mut String, actions: &[&str]) {
    match actions {
        [one] => {
            let _ = writeln!(out, "                Action: {one}");
        }
        many => {
            let _ = writeln!(out, "                Action:");
            for a in many {
                let _ = writeln!(out, "                  - {a}");
            }
        }
    }
}

/// The statements of a member role: one per declared resource pattern, then what the
/// operations imply, then the actions without resource type on `*`.
fn statements(function: &Function) -> String {
    let ops = member_operations(function);
    let mut scoped: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut unscoped: Vec<&str> = Vec::new();
    for op in &ops {
        match op.resource {
            IamResource::Arn(pattern) => match scoped.iter_mut().find(|(p, _)| *p == pattern) {
                Some((_, list)) if !list.contains(&op.permission) => list.push(op.permission),
                Some(_) => {}
                None => scoped.push((pattern, vec![op.permission])),
            },
            IamResource::None | IamResource::Unknowable(_) => {
                if !unscoped.contains(&op.permission) {
                    unscoped.push(op.permission)
                }
            }
        }
    }
    let mut out = String::new();
    for (pattern, list) in &scoped {
        let _ = writeln!(out, "              - Sid: {}", sid(pattern));
        let _ = writeln!(out, "                Effect: Allow");
        actions(&mut out, list);
        let _ = writeln!(
            out,
            "                Resource: !Sub {}",
            member_arn(pattern)
        );
    }
    // The AI data key may belong to other accounts the deployment allows (its parameter).
    if function
        .specs
        .iter()
        .any(|s| s.resource_type == "AWS::S3::Bucket")
        && ops
            .iter()
            .any(|o| o.permission == "kms:DescribeKey" && o.service == "kms")
    {
        out.push_str(
            "              # The AI data key may belong to accounts AiDataKmsKeyAccounts allows.
              - !If
                - HasAiDataKeyAccounts
                - Sid: CheckAiDataKeyOfAllowedAccounts
                  Effect: Allow
                  Action: kms:DescribeKey
                  Resource: !Split [\",\", !Join [\"\", [\"arn:*:kms:*:\", !Join [\":key/*,arn:*:kms:*:\", !Split [\",\", !Ref AiDataKmsKeyAccounts]], \":key/*\"]]]
                - !Ref AWS::NoValue
",
        );
    }
    let mut implied: Vec<&Implied> = Vec::new();
    for i in ops.iter().flat_map(|o| o.implies.iter()) {
        if !implied.contains(&i) {
            implied.push(i);
        }
    }
    for i in implied {
        comment(&mut out, 14, &format!("{}.", i.why));
        if i.permission == "iam:PassRole" {
            // The roles this deployment passes: the delivery roles the member template creates,
            // or the account's own (BedrockLogRoleName).
            out.push_str(
                "              - Sid: PassTheLoggingRoleOnly
                Effect: Allow
                Action: iam:PassRole
                Resource:
                  - !Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:role/ai-guard-bedrock-logging-*
                  - !If [PassBedrockRole, !Sub \"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${BedrockLogRoleName}\", !Ref AWS::NoValue]
",
            );
        } else {
            let name = i.permission.split(':').nth(1).unwrap_or(i.permission);
            let _ = writeln!(out, "              - Sid: {name}");
            let _ = writeln!(out, "                Effect: Allow");
            let _ = writeln!(out, "                Action: {}", i.permission);
            let _ = writeln!(
                out,
                "                Resource: !Sub {}",
                member_arn(i.resource)
            );
        }
        let _ = writeln!(out, "                Condition:");
        let _ = writeln!(out, "                  StringEquals:");
        let _ = writeln!(
            out,
            "                    {}: {}",
            i.condition.0, i.condition.1
        );
    }
    if !unscoped.is_empty() {
        comment(
            &mut out,
            14,
            "Actions without a resource type (Service Authorization Reference), or whose \
             resources a deployment cannot name.",
        );
        let _ = writeln!(out, "              - Sid: NoResourceType");
        let _ = writeln!(out, "                Effect: Allow");
        actions(&mut out, &unscoped);
        let _ = writeln!(out, "                Resource: \"*\"");
    }
    out
}

/// The hub role of the function at `index` of `HubRoleArns` (the hub's output, in the registry's
/// order; the appended commas keep `Fn::Select` in range).
fn hub_role(index: usize) -> String {
    format!(
        "!Select [{index}, !Split [\",\", !Join [\"\", [!Join [\",\", !Ref HubRoleArns], \"{}\"]]]]",
        ",".repeat(FUNCTIONS.len())
    )
}

/// `MemberRole<Stem>Here`: the member roles exist where `MemberRoleHere` holds and the hub
/// deploys the function (a trust policy naming a role that does not exist is refused by IAM).
pub fn member_role_conditions() -> String {
    let mut out = String::new();
    for (i, f) in FUNCTIONS.iter().enumerate() {
        let _ = writeln!(
            out,
            "  MemberRole{}Here: !And [!Condition MemberRoleHere, !Not [!Equals [{}, \"\"]]]",
            f.stem,
            hub_role(i)
        );
    }
    out
}

/// One role per function: `<MemberRoleName>-<short>`, trusted by that function's hub role only.
pub fn member_roles() -> String {
    let mut out = String::new();
    for (i, f) in FUNCTIONS.iter().enumerate() {
        let _ = write!(
            out,
            "  MemberRole{stem}:
    Condition: MemberRole{stem}Here
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Sub ${{MemberRoleName}}-{short}
      Path: !Ref MemberRolePath
      Description: ai-guard hub - {name} in this account.
      MaxSessionDuration: 3600
      AssumeRolePolicyDocument:
        Version: \"2012-10-17\"
        Statement:
          - Effect: Allow
            Principal:
              AWS: {hub}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: remediate
          PolicyDocument:
            Version: \"2012-10-17\"
            Statement:
{statements}",
            stem = f.stem,
            short = f.short,
            name = f.name,
            hub = hub_role(i),
            statements = statements(f),
        );
    }
    out
}

/// The member roles created in an account.
pub fn member_role_output() -> String {
    let mut out = String::from(
        "  MemberRoleArns:
    Condition: MemberRoleHere
    Description: The member roles created here, one per hub function.
    Value: !Join
      - \",\"
",
    );
    for (i, f) in FUNCTIONS.iter().enumerate() {
        let lead = if i == 0 { "      - - " } else { "        - " };
        let _ = writeln!(
            out,
            "{lead}!If [MemberRole{stem}Here, !GetAtt MemberRole{stem}.Arn, !Ref AWS::NoValue]",
            stem = f.stem
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_ids_name_the_resource_type() {
        assert_eq!(sid("arn:{partition}:kms:{region}:{account}:key/*"), "Keys");
        assert_eq!(sid("arn:{partition}:s3:::*"), "Buckets");
        assert_eq!(
            sid("arn:{partition}:sagemaker:{region}:{account}:notebook-instance/*"),
            "NotebookInstances"
        );
    }

    #[test]
    fn blocks_are_replaced_between_their_markers_only() {
        let t = "a:\n  # BEGIN GENERATED x\n  old\n  # END GENERATED x\nb\n";
        let block = Block {
            name: "x".to_owned(),
            text: "  new\n".to_owned(),
        };
        assert_eq!(
            with_blocks(t, std::slice::from_ref(&block)).unwrap(),
            "a:\n  # BEGIN GENERATED x\n  new\n  # END GENERATED x\nb\n"
        );
        assert!(with_blocks("a\n", &[block]).is_err());
    }
}
