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
use crate::functions::{Function, CONTROL_IDS, FUNCTIONS};
use crate::governance;

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

/// `<name>-s3, <name>-bedrock, …`: every function's member role, for the parameters' descriptions.
fn member_role_names() -> String {
    FUNCTIONS
        .iter()
        .map(|f| format!("<name>-{}", f.short))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The stack template's `MemberRoleName` description.
pub fn hub_member_role_name() -> String {
    format!(
        "    Description: \"Organization hub: the prefix of the roles the functions assume in member \
         accounts, one per function - {}; the member template (member-template.yaml) creates them \
         with the same MemberRoleName and MemberRolePath. Empty: this account only.\"\n",
        member_role_names()
    )
}

/// The member template's `MemberRoleName` description.
pub fn member_role_name() -> String {
    format!(
        "    Description: The prefix of the roles the hub assumes, one per function ({}; the \
         hub's MemberRoleName). The forwarding role is <name>-forwarder.\n",
        member_role_names()
    )
}

/// Whether AWS Config rules of the stack invoke `f` (through SSM Automation, or its custom rule).
fn has_config_rules(f: &Function) -> bool {
    f.specs
        .iter()
        .any(|s| !s.config_rules.is_empty() || s.custom_config_rule.is_some())
}

/// Each function's `Enable<Logical>` parameter.
pub fn enable_parameters() -> String {
    let mut out = String::new();
    for f in FUNCTIONS {
        let _ = write!(
            out,
            "  Enable{logical}:
    Type: String
    AllowedValues: [\"true\", \"false\"]
    Default: \"true\"
    Description: Deploy the {name} function ({summary}).
",
            logical = f.logical,
            name = f.name,
            summary = f.summary,
        );
    }
    out
}

/// Whether Security Hub findings reach `f` (its controls name Security Hub controls).
fn has_security_hub_controls(f: &Function) -> bool {
    f.specs.iter().any(|s| !s.security_hub_controls.is_empty())
}

/// Each function's conditions: `<Stem>On` (deployed), `Hub<Stem>On` (deployed in a hub), and
/// `Notify<Stem>On` (deployed, with notifications), `<Stem>Rules` (its AWS Config rules created),
/// `Approve<Stem>On` (deployed, with the Security Hub approval action); `AnyRemediation` when any
/// rule is.
pub fn function_conditions() -> String {
    let mut out = String::new();
    let mut rules = Vec::new();
    for f in FUNCTIONS {
        let (stem, logical) = (f.stem, f.logical);
        let _ = writeln!(
            out,
            "  {stem}On: !Equals [!Ref Enable{logical}, \"true\"]\n  Hub{stem}On: !And [!Condition Hub, !Condition {stem}On]\n  Notify{stem}On: !And [!Condition Notify, !Condition {stem}On]"
        );
        if has_security_hub_controls(f) {
            let _ = writeln!(
                out,
                "  Approve{stem}On: !And [!Condition SecurityHubApproval, !Condition {stem}On]"
            );
        }
        if has_config_rules(f) {
            let _ = writeln!(
                out,
                "  {stem}Rules: !And [!Condition {stem}On, !Condition ManagedRules]"
            );
            rules.push(format!("!Condition {stem}Rules"));
        }
    }
    out.push_str(
        "  # Some AWS Config remediation exists: the SSM document and the automation role that runs it.\n",
    );
    let _ = writeln!(out, "  AnyRemediation: !Or [{}]", rules.join(", "));
    out
}

/// `ApprovalControls`' pattern: each item one of the registry's control ids, or nothing (the
/// default: no control in `approve` mode). An id the document may not name would make the
/// functions refuse the whole document; a quote would break its JSON.
pub fn approval_controls_pattern() -> String {
    format!(
        "    AllowedPattern: \"({})\"\n    ConstraintDescription: each a control id - {}.\n",
        std::iter::once("")
            .chain(CONTROL_IDS.iter().copied())
            .collect::<Vec<_>>()
            .join("|"),
        CONTROL_IDS.join(", ")
    )
}

/// The assertion that some function is deployed.
pub fn at_least_one_function() -> String {
    let mut out = String::from("      - Assert: !Or\n");
    for f in FUNCTIONS {
        let _ = writeln!(
            out,
            "          - !Equals [!Ref Enable{}, \"true\"]",
            f.logical
        );
    }
    out
}

/// The functions AWS Config remediation (SSM Automation) may invoke: those whose rules exist.
pub fn remediation_targets() -> String {
    let mut out = String::new();
    for f in FUNCTIONS.iter().filter(|f| has_config_rules(f)) {
        let _ = writeln!(
            out,
            "                  - !If [{}Rules, !GetAtt {}Function.Arn, !Ref AWS::NoValue]",
            f.stem, f.logical
        );
    }
    out
}

/// `S3_BUCKET_SSL_REQUESTS_ONLY` / `bedrock-invocation-logging` → `S3BucketSslRequestsOnly` /
/// `BedrockInvocationLogging`: a logical id (services keep their own capitals: a renamed logical id
/// would make CloudFormation replace the rule, which fails while the old one holds its name).
fn camel(name: &str) -> String {
    name.split(['_', '-'])
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            if lower == "sagemaker" {
                return "SageMaker".to_owned();
            }
            let mut c = lower.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The remediation of `rule` (a rule resource's logical id): the SSM document runs the
/// function on the non-compliant resource, naming the control.
fn remediation(
    out: &mut String,
    id: &str,
    rule: &str,
    condition: &str,
    f: &Function,
    spec: &ControlSpec,
) {
    let _ = write!(
        out,
        "  {id}Remediation:
    Type: AWS::Config::RemediationConfiguration
    Condition: {condition}
    Properties:
      ConfigRuleName: !Ref {rule}
      TargetType: SSM_DOCUMENT
      TargetId: !Ref RemediationDocument
      Automatic: !If [AutomaticRemediation, true, false]
      MaximumAutomaticAttempts: 3
      RetryAttemptSeconds: 60
      Parameters:
        AutomationAssumeRole:
          StaticValue:
            Values: [!GetAtt RemediationAutomationRole.Arn]
        FunctionName:
          StaticValue:
            Values: [!Ref {logical}Function]
        ResourceType:
          StaticValue:
            Values: [\"{resource_type}\"]
        Control:
          StaticValue:
            Values: [{control}]
        ResourceId:
          ResourceValue:
            Value: RESOURCE_ID

",
        logical = f.logical,
        resource_type = spec.resource_type,
        control = spec.id,
    );
}

/// Every control's AWS Config rules and their remediations: the managed rules (on configuration
/// changes, scoped to the control's resource type, or periodic), and a custom rule that AWS Config
/// runs the function for on its schedule.
pub fn config_rules() -> String {
    let mut out = String::new();
    for f in FUNCTIONS {
        let rules_on = format!("{}Rules", f.stem);
        for spec in f.specs {
            for rule in spec.config_rules {
                let id = camel(rule.identifier);
                let condition = rule.condition.unwrap_or(&rules_on);
                let _ = write!(
                    out,
                    "  {id}Rule:
    Type: AWS::Config::ConfigRule
    Condition: {condition}
    Properties:
      ConfigRuleName: !Sub ${{AWS::StackName}}-{name}
",
                    name = rule.name
                );
                if let Some(parameters) = rule.parameters {
                    let _ = writeln!(out, "      InputParameters: {parameters}");
                }
                if rule.periodic {
                    out.push_str("      MaximumExecutionFrequency: !Ref ConfigRuleFrequency\n");
                } else {
                    let _ = write!(
                        out,
                        "      Scope:\n        ComplianceResourceTypes: [\"{}\"]\n",
                        spec.resource_type
                    );
                }
                let _ = write!(
                    out,
                    "      Source:\n        Owner: AWS\n        SourceIdentifier: {}\n\n",
                    rule.identifier
                );
                remediation(&mut out, &id, &format!("{id}Rule"), condition, f, spec);
            }
            if let Some(custom) = spec.custom_config_rule {
                let id = camel(custom);
                let _ = write!(
                    out,
                    "  {id}ConfigPermission:
    Type: AWS::Lambda::Permission
    Condition: {rules_on}
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !GetAtt {logical}Function.Arn
      Principal: config.amazonaws.com
      SourceAccount: !Ref AWS::AccountId

  {id}ConfigRule:
    Type: AWS::Config::ConfigRule
    Condition: {rules_on}
    DependsOn: {id}ConfigPermission
    Properties:
      ConfigRuleName: !Sub ${{AWS::StackName}}-{custom}
      Description: {summary} (evaluated and restored by ai-guard).
      Scope:
        ComplianceResourceTypes: [\"{resource_type}\"]
      Source:
        Owner: CUSTOM_LAMBDA
        SourceIdentifier: !GetAtt {logical}Function.Arn
        SourceDetails:
          - EventSource: aws.config
            MessageType: ScheduledNotification
            MaximumExecutionFrequency: !Ref ConfigRuleFrequency

",
                    logical = f.logical,
                    summary = f.summary,
                    resource_type = spec.resource_type,
                );
                remediation(
                    &mut out,
                    &id,
                    &format!("{id}ConfigRule"),
                    &rules_on,
                    f,
                    spec,
                );
            }
        }
    }
    // The END marker follows the last resource directly.
    out.pop();
    out
}

/// Each function's ARN, with the direct payload that checks one resource now.
pub fn function_outputs() -> String {
    let mut out = String::new();
    for f in FUNCTIONS {
        let mut kinds: Vec<&str> = Vec::new();
        let mut actions: Vec<&str> = Vec::new();
        for spec in f.specs {
            push_new(&mut kinds, spec.resource_type);
            for a in spec.actions.iter().skip(1) {
                push_new(&mut actions, a);
            }
        }
        let action = if actions.is_empty() {
            String::new()
        } else {
            format!(
                " (add \\\"action\\\": \\\"{}\\\" for the other action)",
                actions.join("\\\" or \\\"")
            )
        };
        let _ = write!(
            out,
            "  {logical}FunctionArn:
    Condition: {stem}On
    Description: \"Invoke with {{\\\"resourceId\\\": \\\"<{kinds} name, id or ARN>\\\"}} to check it now with every control of {name}{action}.\"
    Value: !GetAtt {logical}Function.Arn
",
            logical = f.logical,
            stem = f.stem,
            name = f.name,
            kinds = kinds.join(" or "),
        );
    }
    out
}

/// The stack template's generated blocks: the forwarding patterns, every function's resources,
/// and the hub's role list.
pub fn template_blocks() -> Vec<Block> {
    let mut blocks = forwarding_blocks();
    blocks.push(Block {
        name: "hub role arns".to_owned(),
        text: hub_role_arns(),
    });
    for (name, text) in [
        ("enable parameters", enable_parameters()),
        ("function conditions", function_conditions()),
        ("at least one function", at_least_one_function()),
        ("remediation targets", remediation_targets()),
        ("function outputs", function_outputs()),
        ("config rules", config_rules()),
        ("member role name", hub_member_role_name()),
        ("approval controls pattern", approval_controls_pattern()),
    ] {
        blocks.push(Block {
            name: name.to_owned(),
            text,
        });
    }
    blocks.extend(FUNCTIONS.iter().map(|f| Block {
        name: format!("{} resources", f.name),
        text: function_resources(f),
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
        Block {
            name: "member role name".to_owned(),
            text: member_role_name(),
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

/// What a function's member role may do: its controls' operations (their tag reads included: a
/// policy rule or `EXEMPT_TAG` may name tags) and answering AWS Config in the member account.
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

/// What a governed function calls besides its controls (every function built by
/// [`crate::functions`] is governed): the policy document's parameter, the proposals' table, and an
/// account's organizational units.
pub fn governance_operations() -> Vec<Operation> {
    vec![
        governance::GET_PARAMETER,
        governance::GET_PARAMETER_HISTORY,
        governance::LIST_PARENTS,
        governance::GET_PROPOSAL,
        governance::PUT_PROPOSAL,
    ]
}

/// The governance operations on an ARN pattern, granted on the stack's own resources: the
/// parameter `RemediationPolicy` names (its name starts with `/`, which its ARN does not repeat:
/// `…:parameter/<stack>/remediation-policy`) and `ApprovalsTable`.
fn governed(out: &mut String) {
    let ops = governance_operations();
    let on = |service: &str| -> Vec<&str> {
        ops.iter()
            .filter(|o| o.service == service && matches!(o.resource, IamResource::Arn(_)))
            .map(|o| o.permission)
            .collect()
    };
    out.push_str("              # The remediation policy document: this stack's parameter only.\n");
    let _ = writeln!(out, "              - Sid: RemediationPolicy");
    let _ = writeln!(out, "                Effect: Allow");
    actions(out, &on("ssm"));
    out.push_str(
        "                Resource: !Sub arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${RemediationPolicy}\n",
    );
    out.push_str("              # The fixes proposed for approval.\n");
    let _ = writeln!(out, "              - Sid: Proposals");
    let _ = writeln!(out, "                Effect: Allow");
    actions(out, &on("dynamodb"));
    out.push_str("                Resource: !GetAtt ApprovalsTable.Arn\n");
}

/// An operation's ARN pattern as the member role grants it: in every region of its account.
fn member_arn(pattern: &str) -> String {
    sub_arn(pattern, "*")
}

/// An operation's ARN pattern as a `!Sub` string: this partition and account, `region` for its
/// region.
fn sub_arn(pattern: &str, region: &str) -> String {
    pattern
        .replace("{partition}", "${AWS::Partition}")
        .replace("{region}", region)
        .replace("{account}", "${AWS::AccountId}")
}

/// A statement id for the resources `pattern` names: `Keys` for `…:key/*`, `Buckets` for S3's.
fn sid(pattern: &str) -> String {
    let resource = pattern.splitn(6, ':').nth(5).unwrap_or_default();
    let kind = resource.split(['/', '*']).next().unwrap_or_default();
    if kind.is_empty() {
        return "Buckets".to_owned();
    }
    camel(kind) + "s"
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

/// The statements of a role of `function` at `place`: one per declared resource pattern, then
/// what the operations imply, then the actions without resource type on `*`. Both roles read the
/// controls' tags always: a policy rule may name resource tags (and `EXEMPT_TAG`), so the tags of a
/// resource are read before it is changed. A function's role also reads the remediation policy
/// and keeps the proposals ([`governed`]), and finds an account's organizational units.
fn statements(function: &Function, place: Place) -> String {
    let mut ops = member_operations(function);
    if place == Place::Function {
        ops.extend(
            governance_operations()
                .into_iter()
                .filter(|o| !matches!(o.resource, IamResource::Arn(_))),
        );
    }
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
        if place == Place::Function && pattern.contains("{region}") {
            let _ = writeln!(
                out,
                "                # Every region the function acts in (REGIONS), this account only."
            );
        }
        let _ = writeln!(
            out,
            "                Resource: {}",
            granted_arn(pattern, place)
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
        let condition = format!(
            "                {pad}Condition:\n                {pad}  StringEquals:\n                {pad}    {}: {}\n",
            i.condition.0,
            i.condition.1,
            pad = if i.permission == "iam:PassRole" && place == Place::Function { "  " } else { "" }
        );
        comment(&mut out, 14, &format!("{}.", i.why));
        if i.permission == "iam:PassRole" {
            match place {
                // The roles this deployment passes: the delivery roles the member template
                // creates, or the account's own (BedrockLogRoleName).
                Place::Member => out.push_str(
                    "              - Sid: PassTheLoggingRoleOnly
                Effect: Allow
                Action: iam:PassRole
                Resource:
                  - !Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:role/ai-guard-bedrock-logging-*
                  - !If [PassBedrockRole, !Sub \"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${BedrockLogRoleName}\", !Ref AWS::NoValue]
",
                ),
                // The delivery role(s) of this account; one named with {account}/{region} is
                // matched with `*` there (a role can be passed in its own account only).
                Place::Function => out.push_str(
                    "              - !If
                - BedrockCloudWatch
                - Sid: PassTheLoggingRoleOnly
                  Effect: Allow
                  Action: iam:PassRole
                  Resource: !If
                    - CreateBedrockLogs
                    - !If [PerPlace, !Sub \"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/ai-guard-bedrock-logging-*\", !GetAtt BedrockLogDeliveryRole.Arn]
                    - !Join [\"*\", !Split [\"{region}\", !Join [\"*\", !Split [\"{account}\", !Ref BedrockLogRoleArn]]]]
",
                ),
            }
            out.push_str(&condition);
            if place == Place::Function {
                out.push_str("                - !Ref AWS::NoValue\n");
            }
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
            out.push_str(&condition);
        }
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

/// Where a role acts: a member account's role (every region of its account) or a function's own
/// role in the stack's account (its region, or every region with `REGIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Member,
    Function,
}

/// `pattern` as `place`'s role grants it: a `!Sub` value.
fn granted_arn(pattern: &str, place: Place) -> String {
    match place {
        Place::Member => format!("!Sub {}", member_arn(pattern)),
        Place::Function if pattern.contains("{region}") => format!(
            "!Sub [\"{}\", {{Region: !If [MultiRegion, \"*\", !Ref \"AWS::Region\"]}}]",
            sub_arn(pattern, "${Region}")
        ),
        Place::Function => format!("!Sub {}", member_arn(pattern)),
    }
}

/// Every resource of `function` in the stack template: the function with its triggers, its role,
/// log group, dead-letter queue, the hub's sweep queue (with its own dead-letter queue, the
/// mapping that feeds the function, and its alarm), and the alarms on errors and dead letters.
pub fn function_resources(f: &Function) -> String {
    let mut out = String::new();
    function(&mut out, f);
    approval_rule(&mut out, f);
    role(&mut out, f);
    queues_and_alarms(&mut out, f);
    // The END marker follows the last resource directly.
    out.pop();
    out
}

fn function(out: &mut String, f: &Function) {
    let (stem, logical, name, short) = (f.stem, f.logical, f.name, f.short);
    let _ = write!(
        out,
        "  {logical}Function:
    Condition: {stem}On
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: {name}
    Properties:
      # The function's own package: cargo selects it alone, so the binary compiles and links only
      # its own controls' SDKs (its Cargo feature), not every function's.
      CodeUri: functions/{name}
      Description: {description}
      Role: !GetAtt {logical}Role.Arn
      Environment:
        Variables:
          # This function's own member role, with its path: `/<name>-{short}` or `/path/<name>-{short}`.
          MEMBER_ROLE_NAME: !If [Hub, !Sub \"${{MemberRolePath}}${{MemberRoleName}}-{short}\", \"\"]
          OWN_ROLE_ARN: !GetAtt {logical}Role.Arn
          SWEEP_QUEUE_URL: !If [Hub, !Ref Sweeps{stem}, \"\"]
          # The remediation policy document (edited in Parameter Store, no stack update) and the
          # fixes proposed for approval.
          POLICY_PARAMETER: !Ref RemediationPolicy
          APPROVALS_TABLE: !Ref ApprovalsTable
",
        description = f.deploy.description,
    );
    for (variable, value) in f.deploy.environment {
        let _ = writeln!(out, "          {variable}: {value}");
    }
    let _ = write!(
        out,
        "      LoggingConfig:
        LogFormat: JSON
        ApplicationLogLevel: !Ref LogLevel
        LogGroup: !Ref {logical}LogGroup
      DeadLetterQueue:
        Type: SQS
        TargetArn: !GetAtt {logical}DeadLetterQueue.Arn
      Events:
"
    );
    if f.specs.iter().any(|s| !s.cloudtrail_events.is_empty()) {
        out.push_str(
            "        CloudTrail:
          Type: EventBridgeRule
          Properties:
            EventBusName: !If [Hub, !Ref HubEventBus, default]
            Pattern:
",
        );
        out.push_str(&function_api_calls(f));
    }
    state_changes(out, f);
    config_compliance(out, f);
    security_hub(out, f);
    let _ = write!(
        out,
        "        Sweep:
          Type: Schedule
          Properties:
            Schedule: !Ref SweepSchedule
            Description: {sweep}

",
        sweep = f.deploy.sweep
    );
}

/// A rule per state-change event of the function's controls (`StateChange`, `StateChange2`, …).
fn state_changes(out: &mut String, f: &Function) {
    let changes: Vec<_> = f
        .specs
        .iter()
        .flat_map(|s| s.state_change_events.iter().map(move |c| (s, c)))
        .collect();
    for (i, (spec, change)) in changes.iter().enumerate() {
        let suffix = if i == 0 {
            String::new()
        } else {
            (i + 1).to_string()
        };
        let _ = write!(
            out,
            "        StateChange{suffix}:
          Type: EventBridgeRule
          Properties:
            EventBusName: !If [Hub, !Ref HubEventBus, default]
            Pattern:
              source: [{source}]
              detail-type: [{detail_type}]
              # Only this account's own events: an event relayed from another account (a forwarding
              # bus) is not this function's to act on.
              account: !If [Hub, [{{exists: true}}], [!Ref AWS::AccountId]]
",
            source = eventbridge_source(spec.event_source),
            detail_type = change.detail_type,
        );
        if let Some((field, states)) = change.states {
            let _ = writeln!(out, "              detail:");
            let _ = writeln!(out, "                {field}: [{}]", states.join(", "));
        }
    }
}

/// The rule for AWS Config compliance changes of the managed rules the function's controls own.
fn config_compliance(out: &mut String, f: &Function) {
    let mut types: Vec<&str> = Vec::new();
    let mut rules: Vec<&str> = Vec::new();
    for spec in f.specs.iter().filter(|s| !s.config_rules.is_empty()) {
        push_new(&mut types, spec.resource_type);
        for rule in spec.config_rules {
            push_new(&mut rules, rule.name);
        }
    }
    if rules.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "        ConfigCompliance:
          Type: EventBridgeRule
          Properties:
            EventBusName: !If [Hub, !Ref HubEventBus, default]
            Pattern:
              source: [aws.config]
              detail-type: [Config Rules Compliance Change]
              account: !If [Hub, [{{exists: true}}], [!Ref AWS::AccountId]]
              detail:
                awsAccountId: !If [Hub, [{{exists: true}}], [!Ref AWS::AccountId]]
                awsRegion: !If [Hub, [{{exists: true}}], [!Ref AWS::Region]]
                resourceType: [{types}]
                configRuleName:
",
        types = types.join(", ")
    );
    for rule in rules {
        let _ = writeln!(out, "                  - wildcard: \"*{rule}*\"");
    }
    out.push_str(
        "                newEvaluationResult:
                  complianceType: [NON_COMPLIANT]
",
    );
}

/// The Security Hub rules (both finding formats) for the function's controls.
fn security_hub(out: &mut String, f: &Function) {
    let controls = security_hub_controls(f);
    if controls.is_empty() {
        return;
    }
    let controls = controls.join(", ");
    let _ = write!(
        out,
        "        SecurityHub:
          Type: EventBridgeRule
          Properties:
            # The Security Hub administrator's own feed carries its members' findings: the default bus.
            Pattern:
              source: [aws.securityhub]
              detail-type: [Security Hub Findings - Imported]
              detail:
                findings:
                  # An administrator account's feed carries its members' findings, an aggregation
                  # region's its linked regions': only this account's and region's reach the function.
                  AwsAccountId: !If [Hub, [{{exists: true}}], [!Ref AWS::AccountId]]
                  Region: !If [Hub, [{{exists: true}}], [!Ref AWS::Region]]
                  Compliance:
                    Status: [FAILED]
                    SecurityControlId: [{controls}]
                  RecordState: [ACTIVE]
                  # A finding we resolved (or a human suppressed) comes back as an event: not for us.
                  Workflow:
                    Status: [NEW, NOTIFIED]
        SecurityHubV2:
          Type: EventBridgeRule
          Properties:
            # The new Security Hub's OCSF findings (one per event), on the default bus like the ASFF ones.
            Pattern:
              source: [aws.securityhub]
              detail-type: [Findings Imported V2]
              detail:
                findings:
                  cloud:
                    account:
                      uid: !If [Hub, [{{exists: true}}], [!Ref AWS::AccountId]]
                    region: !If [Hub, [{{exists: true}}], [!Ref AWS::Region]]
                  compliance:
                    control: [{controls}]
                    status: [Fail]
                  # Resolved or suppressed findings are a human's or ours: only open ones.
                  status: [New, In Progress]
"
    );
}

/// The Security Hub controls of `f`'s controls, each once, in order.
fn security_hub_controls(f: &Function) -> Vec<&'static str> {
    let mut controls: Vec<&str> = Vec::new();
    for spec in f.specs {
        for c in spec.security_hub_controls {
            push_new(&mut controls, c);
        }
    }
    controls
}

/// The rule that takes the approval custom action (`ApproveFixAction`) on findings of the
/// function's Security Hub controls to the function: a human approved their proposed fixes. A
/// plain rule, not one of the function's events: it exists only with the action
/// (`SecurityHubApprovalAction`). Its target retries as the function's other rules do (EventBridge's
/// defaults); what the function then fails goes to its dead-letter queue.
fn approval_rule(out: &mut String, f: &Function) {
    if !has_security_hub_controls(f) {
        return;
    }
    let (stem, logical, name) = (f.stem, f.logical, f.name);
    let _ = write!(
        out,
        "  {logical}ApproveFix:
    Condition: Approve{stem}On
    Type: AWS::Events::Rule
    Properties:
      Description: ai-guard - a human approved the fixes {name} proposed for these findings (Security Hub custom action).
      # The custom action's events are on the default bus of the account and region of the action.
      EventPattern:
        source: [aws.securityhub]
        detail-type: [Security Hub Findings - Custom Action]
        resources: [!Ref ApproveFixAction]
        detail:
          findings:
            # An administrator's findings include its members' and linked regions': a hub acts on
            # them (through the member roles), a single account on its own only.
            AwsAccountId: !If [Hub, [{{exists: true}}], [!Ref AWS::AccountId]]
            Region: !If [Hub, [{{exists: true}}], [!Ref AWS::Region]]
            Compliance:
              SecurityControlId: [{controls}]
      Targets:
        - Id: function
          Arn: !GetAtt {logical}Function.Arn

  {logical}ApproveFixPermission:
    Condition: Approve{stem}On
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !GetAtt {logical}Function.Arn
      Principal: events.amazonaws.com
      SourceArn: !GetAtt {logical}ApproveFix.Arn

",
        controls = security_hub_controls(f).join(", "),
    );
}

/// Whether the function passes a role (Bedrock's delivery role): its role's `iam:PassRole`.
fn passes_role(f: &Function) -> bool {
    member_operations(f)
        .iter()
        .flat_map(|o| o.implies.iter())
        .any(|i| i.permission == "iam:PassRole")
}

fn role(out: &mut String, f: &Function) {
    let (stem, logical, name, short) = (f.stem, f.logical, f.name, f.short);
    let _ = write!(
        out,
        "  {logical}Role:
    Condition: {stem}On
    Type: AWS::IAM::Role
"
    );
    if passes_role(f) {
        out.push_str(
            "    Metadata:
      cfn-lint:
        config:
          # cfn-lint checks the PassRole resource with BedrockLogRoleArn's empty default, which the
          # BedrockCloudWatch condition rules out (and the Rules refuse a half destination).
          ignore_checks: [W1031, W1032]
",
        );
    }
    let _ = write!(
        out,
        "    Properties:
      Description: {name}. Exactly the calls its code makes.
      AssumeRolePolicyDocument:
        Version: \"2012-10-17\"
        Statement:
          - Effect: Allow
            Principal: {{Service: lambda.amazonaws.com}}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: remediate
          PolicyDocument:
            Version: \"2012-10-17\"
            Statement:
{statements}",
        statements = statements(f, Place::Function)
    );
    governed(out);
    if has_security_hub_controls(f) {
        out.push_str(
            "              - Sid: CloseSecurityHubFindings
                Effect: Allow
                Action: securityhub:BatchUpdateFindings
                # BatchUpdateFindings on `hub`, BatchUpdateFindingsV2 on `hubv2` (Service
                # Authorization Reference, Security Hub: the one action, two resource types).
                Resource:
                  - !Sub arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:hub/default
                  - !Sub arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:hubv2/*
",
        );
    }
    let _ = write!(
        out,
        "              - Sid: DeadLetters
                Effect: Allow
                Action: sqs:SendMessage
                Resource: !GetAtt {logical}DeadLetterQueue.Arn
              - !If
                - Notify
                - Sid: Notify
                  Effect: Allow
                  Action: sns:Publish
                  Resource: !Ref NotificationTopic
                - !Ref AWS::NoValue
              - !If
                - Notify
                - Sid: NotifyEncryptedTopic
                  Effect: Allow
                  Action: [kms:GenerateDataKey, kms:Decrypt]
                  Resource: !GetAtt NotificationKey.Arn
                  Condition:
                    StringEquals:
                      kms:ViaService: !Sub sns.${{AWS::Region}}.amazonaws.com
                - !Ref AWS::NoValue
              - !If
                - Contested
                - Sid: ContestedCounts
                  Effect: Allow
                  Action:
                    - dynamodb:UpdateItem
                    - dynamodb:PutItem
                    - !If [ContestedLeftAlone, dynamodb:GetItem, !Ref AWS::NoValue]
                  Resource: !GetAtt ContestedTable.Arn
                - !Ref AWS::NoValue
              - !If
                - Hub
                - Sid: HubAssumesTheMemberRole
                  Effect: Allow
                  Action: sts:AssumeRole
                  Resource: !Sub arn:${{AWS::Partition}}:iam::*:role${{MemberRolePath}}${{MemberRoleName}}-{short}
                  # Only roles of accounts of this organization (IAM user guide, aws:ResourceOrgID).
                  Condition:
                    StringEquals:
                      aws:ResourceOrgID: !Ref OrganizationId
                - !Ref AWS::NoValue
              - !If
                - Hub
                - Sid: HubListsTheOrganization
                  Effect: Allow
                  Action:
                    - organizations:DescribeOrganization
                    - organizations:ListAccounts
                    - organizations:ListAccountsForParent
                    - organizations:ListOrganizationalUnitsForParent
                  Resource: \"*\"
                - !Ref AWS::NoValue
              - !If
                - Hub
                - Sid: HubSweepJobs
                  Effect: Allow
                  Action:
                    - sqs:SendMessage
                    - sqs:ReceiveMessage
                    - sqs:DeleteMessage
                    - sqs:GetQueueAttributes
                  Resource: !GetAtt Sweeps{stem}.Arn
                - !Ref AWS::NoValue
              - Sid: Logs
                Effect: Allow
                Action:
                  - logs:CreateLogStream
                  - logs:PutLogEvents
                Resource: !GetAtt {logical}LogGroup.Arn

"
    );
}

/// An alarm when `metric` of `dimension` is above zero in five minutes.
fn alarm(out: &mut String, id: &str, condition: &str, description: &str, metric: [&str; 5]) {
    let [namespace, name, dimension, value, statistic] = metric;
    let _ = write!(
        out,
        "  {id}:
    Type: AWS::CloudWatch::Alarm
    Condition: {condition}
    Properties:
      AlarmDescription: {description}
      Namespace: {namespace}
      MetricName: {name}
      Dimensions:
        - Name: {dimension}
          Value: {value}
      Statistic: {statistic}
      Period: 300
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: !If [Notify, [!Ref NotificationTopic], !Ref AWS::NoValue]

"
    );
}

/// CloudWatch's limit on the metrics of a metric-math alarm (CloudWatch user guide, "Limits that
/// apply to alarms based on metric math expressions").
pub const ALARM_METRICS_MAX: usize = 10;

/// The alarm on notifications the function's controls could not send (their `notification_failed`
/// metric, one per control: a function has fewer controls than CloudWatch's limit of metrics).
fn notification_alarm(out: &mut String, f: &Function) {
    let (stem, logical, name) = (f.stem, f.logical, f.name);
    let _ = write!(
        out,
        "  {logical}NotificationFailuresAlarm:
    Type: AWS::CloudWatch::Alarm
    Condition: Notify{stem}On
    Properties:
      AlarmDescription: A {name} notification could not be sent (see the function's log group for \"notification not sent\").
      Metrics:
        - Id: failed
          Expression: SUM(METRICS())
          Label: notifications not sent
          ReturnData: true
"
    );
    for (i, spec) in f.specs.iter().enumerate() {
        let _ = write!(
            out,
            "        - Id: control{i}
          ReturnData: false
          MetricStat: {{Metric: {{Namespace: ai-guard, MetricName: notification_failed, Dimensions: [{{Name: Control, Value: {id}}}]}}, Period: 300, Stat: Sum}}
",
            id = spec.id
        );
    }
    out.push_str(
        "      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref NotificationTopic]

",
    );
}

/// The alarm on fixes a blast-radius limit held back (the policy's `limits`; the
/// `limit_reached` metric, one per control), summed over the function's controls.
fn limit_alarm(out: &mut String, f: &Function) {
    let (stem, logical, name) = (f.stem, f.logical, f.name);
    let _ = write!(
        out,
        "  {logical}LimitReachedAlarm:
    Type: AWS::CloudWatch::Alarm
    Condition: {stem}On
    Properties:
      AlarmDescription: {name} held fixes back at the remediation policy's limit of writes per invocation (they were recorded as notify; see the function's log group for \"blast-radius limit\").
      Metrics:
        - Id: limited
          Expression: SUM(METRICS())
          Label: fixes held back by a limit
          ReturnData: true
"
    );
    for (i, spec) in f.specs.iter().enumerate() {
        let _ = write!(
            out,
            "        - Id: control{i}
          ReturnData: false
          MetricStat: {{Metric: {{Namespace: ai-guard, MetricName: {metric}, Dimensions: [{{Name: Control, Value: {id}}}]}}, Period: 300, Stat: Sum}}
",
            metric = crate::metrics::LIMIT_REACHED,
            id = spec.id
        );
    }
    out.push_str(
        "      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: !If [Notify, [!Ref NotificationTopic], !Ref AWS::NoValue]

",
    );
}

fn queues_and_alarms(out: &mut String, f: &Function) {
    let (stem, logical, name, short) = (f.stem, f.logical, f.name, f.short);
    let _ = write!(
        out,
        "  {logical}LogGroup:
    Condition: {stem}On
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub /ai-guard/${{AWS::StackName}}/{name}
      RetentionInDays: !Ref LogRetentionDays

  {logical}DeadLetterQueue:
    Condition: {stem}On
    Type: AWS::SQS::Queue
    Properties:
      SqsManagedSseEnabled: true
      MessageRetentionPeriod: 1209600

  # Hub: a sweep fans out one job per account, region and control through this FIFO queue (one
  # message group per account: an account's jobs run one at a time, a throttled account retries alone).
  Sweeps{stem}:
    Condition: Hub{stem}On
    Type: AWS::SQS::Queue
    Properties:
      # Named, not generated: CloudFormation does not shorten a generated FIFO queue name to
      # SQS's 80 characters. The stack's UUID keeps it unique and short for any stack name.
      QueueName: !Sub
        - ai-guard-${{Id}}-sweeps-{short}.fifo
        - Id: !Select [2, !Split [\"/\", !Ref \"AWS::StackId\"]]
      FifoQueue: true
      SqsManagedSseEnabled: true
      # Six times the function's timeout (Lambda developer guide, \"Using Lambda with Amazon SQS\").
      VisibilityTimeout: 1800
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Sweeps{stem}Dlq.Arn
        maxReceiveCount: 3

  Sweeps{stem}Dlq:
    Condition: Hub{stem}On
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub
        - ai-guard-${{Id}}-sweeps-{short}-dlq.fifo
        - Id: !Select [2, !Split [\"/\", !Ref \"AWS::StackId\"]]
      FifoQueue: true
      SqsManagedSseEnabled: true
      MessageRetentionPeriod: 1209600

  Sweeps{stem}Jobs:
    Condition: Hub{stem}On
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref {logical}Function
      EventSourceArn: !GetAtt Sweeps{stem}.Arn
      BatchSize: 10
      FunctionResponseTypes: [ReportBatchItemFailures]
      ScalingConfig:
        MaximumConcurrency: 5

  # A sweep job returned in batchItemFailures is not a Lambda error: after three receives it
  # waits in the sweep dead-letter queue, which this alarm watches.
"
    );
    alarm(
        out,
        &format!("Sweeps{stem}DlqAlarm"),
        &format!("Hub{stem}On"),
        &format!(
            "{name} sweep jobs failed three times (an account or region could not be swept); \
             they wait in the sweep dead-letter queue (see the function's log group for \
             \"sweep job failed\")."
        ),
        [
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            &format!("!GetAtt Sweeps{stem}Dlq.QueueName"),
            "Maximum",
        ],
    );
    notification_alarm(out, f);
    limit_alarm(out, f);
    alarm(
        out,
        &format!("{logical}ErrorsAlarm"),
        &format!("{stem}On"),
        &format!(
            "{name} returned errors - a resource failed or stayed deferred (see the function's \
             log group for the audit lines)."
        ),
        [
            "AWS/Lambda",
            "Errors",
            "FunctionName",
            &format!("!Ref {logical}Function"),
            "Sum",
        ],
    );
    alarm(
        out,
        &format!("{logical}DeadLetterAlarm"),
        &format!("{stem}On"),
        &format!(
            "{name} gave up on an event after Lambda's retries; it waits in the dead-letter queue."
        ),
        [
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            &format!("!GetAtt {logical}DeadLetterQueue.QueueName"),
            "Maximum",
        ],
    );
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
            statements = statements(f, Place::Member),
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

    /// Each managed rule the registry may use, and whether AWS Config evaluates it periodically
    /// ("Trigger type" on the rule's page of the AWS Config developer guide, "List of AWS Config
    /// Managed Rules"). A rule added to a `ControlSpec` must be added here from its page.
    const TRIGGER_TYPES: &[(&str, bool)] = &[
        // cloudtrail-enabled: "Trigger type: Periodic".
        ("CLOUD_TRAIL_ENABLED", true),
        // cmk-backing-key-rotation-enabled: "Trigger type: Periodic".
        ("CMK_BACKING_KEY_ROTATION_ENABLED", true),
        // kms-cmk-not-scheduled-for-deletion: "Trigger type: Periodic".
        ("KMS_CMK_NOT_SCHEDULED_FOR_DELETION", true),
        // s3-account-level-public-access-blocks-periodic: "Trigger type: Periodic" (its
        // change-triggered sibling S3_ACCOUNT_LEVEL_PUBLIC_ACCESS_BLOCKS evaluates
        // AWS::S3::AccountPublicAccessBlock, and only when a change generates an event).
        ("S3_ACCOUNT_LEVEL_PUBLIC_ACCESS_BLOCKS_PERIODIC", true),
        // sagemaker-notebook-no-direct-internet-access: periodic.
        ("SAGEMAKER_NOTEBOOK_NO_DIRECT_INTERNET_ACCESS", true),
        // s3-bucket-level-public-access-prohibited: "Trigger type: Configuration changes".
        ("S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED", false),
        // s3-bucket-ssl-requests-only: "Trigger type: Configuration changes".
        ("S3_BUCKET_SSL_REQUESTS_ONLY", false),
        // s3-default-encryption-kms: "Trigger type: Configuration changes".
        ("S3_DEFAULT_ENCRYPTION_KMS", false),
        // sagemaker-notebook-instance-root-access-check: "Trigger type: Configuration changes".
        ("SAGEMAKER_NOTEBOOK_INSTANCE_ROOT_ACCESS_CHECK", false),
    ];

    #[test]
    fn every_managed_rule_has_awss_trigger_type() {
        for f in FUNCTIONS {
            for spec in f.specs {
                for rule in spec.config_rules {
                    let documented = TRIGGER_TYPES
                        .iter()
                        .find(|(id, _)| *id == rule.identifier)
                        .unwrap_or_else(|| {
                            panic!(
                                "{}: {} is not in TRIGGER_TYPES (look its trigger type up in \
                                 the AWS Config developer guide)",
                                spec.id, rule.identifier
                            )
                        });
                    assert_eq!(rule.periodic, documented.1, "{}", rule.identifier);
                }
            }
        }
    }

    /// The generated `AWS::Config::ConfigRule` resources with an AWS owner, by source identifier.
    fn managed_rule_resources() -> Vec<(String, String)> {
        config_rules()
            .split("\n\n")
            .filter(|r| r.contains("Type: AWS::Config::ConfigRule") && r.contains("Owner: AWS\n"))
            .map(|r| {
                let id = r
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("SourceIdentifier: "))
                    .expect("SourceIdentifier");
                (id.to_owned(), r.to_owned())
            })
            .collect()
    }

    /// PutConfigRule (AWS Config API reference, ConfigRule): `MaximumExecutionFrequency` only for
    /// an AWS managed rule triggered at a periodic frequency (AWS Config refuses it on a
    /// change-triggered one); a change-triggered rule is scoped to the control's resource type,
    /// or every change of any recorded resource would evaluate it.
    #[test]
    fn periodic_rules_take_a_frequency_and_change_triggered_ones_a_scope() {
        let rules = managed_rule_resources();
        assert_eq!(
            rules.len(),
            FUNCTIONS
                .iter()
                .flat_map(|f| f.specs.iter())
                .map(|s| s.config_rules.len())
                .sum::<usize>()
        );
        for (id, text) in rules {
            let periodic = TRIGGER_TYPES.iter().find(|(i, _)| *i == id).expect(&id).1;
            assert_eq!(
                text.contains("MaximumExecutionFrequency:"),
                periodic,
                "{id}:\n{text}"
            );
            assert_eq!(
                text.contains("ComplianceResourceTypes:"),
                !periodic,
                "{id}:\n{text}"
            );
        }
    }

    /// IAM user guide, "IAM JSON policy elements: Sid": ASCII letters and digits only, and "In
    /// IAM, the Sid value must be unique within a JSON policy" (IAM refuses the policy).
    #[test]
    fn statement_ids_are_alphanumeric_and_unique_in_each_policy() {
        let sids = |text: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("Sid: "))
                .map(str::to_owned)
                .collect()
        };
        for f in FUNCTIONS {
            let mut function_role = String::new();
            role(&mut function_role, f);
            for (place, text) in [
                ("function role", function_role),
                ("member role", statements(f, Place::Member)),
            ] {
                let ids = sids(&text);
                assert!(!ids.is_empty(), "{} {place}", f.name);
                for (i, id) in ids.iter().enumerate() {
                    assert!(
                        !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()),
                        "{} {place}: Sid {id:?}",
                        f.name
                    );
                    assert!(!ids[..i].contains(id), "{} {place}: Sid {id} twice", f.name);
                }
            }
        }
    }

    /// CloudFormation template reference, "Condition functions": `Fn::And` and `Fn::Or` take 2 to
    /// 10 conditions (the Rules' `Fn::Or` alike, "Rule functions").
    #[test]
    fn generated_or_conditions_take_two_to_ten_conditions() {
        let any = function_conditions();
        let line = any
            .lines()
            .find(|l| l.trim_start().starts_with("AnyRemediation: !Or ["))
            .expect("AnyRemediation");
        let n = line.matches("!Condition ").count();
        assert!((2..=10).contains(&n), "AnyRemediation has {n} conditions");
        let n = at_least_one_function().matches("!Equals").count();
        assert!((2..=10).contains(&n), "the Assert's !Or has {n} conditions");
        for l in any.lines().filter(|l| l.contains("!And [")) {
            let n = l.matches("!Condition ").count();
            assert!((2..=10).contains(&n), "{l}");
        }
    }

    #[test]
    fn every_functions_notification_alarm_stays_within_cloudwatchs_limit() {
        for f in FUNCTIONS {
            assert!(f.specs.len() <= ALARM_METRICS_MAX, "{}", f.name);
        }
    }

    #[test]
    fn logical_ids_keep_the_services_own_capitals() {
        assert_eq!(
            camel("S3_BUCKET_SSL_REQUESTS_ONLY"),
            "S3BucketSslRequestsOnly"
        );
        assert_eq!(
            camel("SAGEMAKER_NOTEBOOK_INSTANCE_ROOT_ACCESS_CHECK"),
            "SageMakerNotebookInstanceRootAccessCheck"
        );
        assert_eq!(
            camel("bedrock-invocation-logging"),
            "BedrockInvocationLogging"
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
