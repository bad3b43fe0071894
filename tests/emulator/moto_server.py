"""Local AWS emulator for the integration tests: moto's standalone server plus the behaviour it lacks.

Started by the Rust test harness (tests/src/emulator.rs) as `python moto_server.py`. It binds
127.0.0.1 on a free port, prints `READY <port>` on stdout, and exits when its parent process dies,
so a test binary never leaves a server behind.

Extensions (each one is AWS's documented behaviour for an operation moto does not implement):
- Config `PutEvaluations` without `TestMode`: moto raises NotImplementedError. Here it validates the
  request as AWS does and records the evaluations, which tests read back from
  `GET /_harness/config/evaluations` (optionally `?resultToken=...`).

- Bedrock `GetModelInvocationLoggingConfiguration` after a delete (or before any put): AWS answers
  `{}` (no `loggingConfig`); moto answers an empty `loggingConfig`. Here it answers as AWS does.
  `PutModelInvocationLoggingConfiguration` validates its destinations as AWS does (Bedrock user
  guide, "Monitor model invocation using CloudWatch Logs and Amazon S3": "Only destinations from
  the same account and Region are supported"; "Failed to validate permissions for log group ..."):
  the required fields; the S3 bucket and the large-data bucket are the caller's own and in the
  request's region; the log group exists in the caller's account and region; the role is the
  caller's own and its trust lets bedrock.amazonaws.com assume it for that account and region
  (its `aws:SourceAccount`/`aws:SourceArn` conditions are evaluated); moto accepts any names. (The
  delivery role's permission policy is not evaluated.)

- KMS `EnableKeyRotation` with `RotationPeriodInDays`: moto ignores the period. Here it is validated
  (90-2560, default 365), stored, and returned by `GetKeyRotationStatus` with `KeyId`, as AWS
  documents; rotation of keys AWS does not rotate (asymmetric, HMAC, imported, not Enabled) is
  refused with AWS's errors (`UnsupportedOperationException`, `KMSInvalidStateException`).
  `RotateKeyOnDemand` applies the same eligibility and AWS's limit of on-demand rotations per key.
  `DescribeKey` of another account's key by its key or alias ARN answers from that account (KMS
  API reference: "To specify a KMS key in a different AWS account, you must use the key ARN or
  alias ARN"); moto looked in the caller's account only. (The key policy is not evaluated.) A key
  created without `KeyUsage` is `ENCRYPT_DECRYPT`, AWS's default (CreateKey); moto left it null.

- SageMaker `UpdateNotebookInstance`: not in moto. Here it is allowed only when the notebook is
  `Stopped` or `Failed` (otherwise AWS's ValidationException), applies `RootAccess` and the other
  documented fields, and leaves the notebook `Stopped` (AWS passes through `Updating`).
  `StopNotebookInstance` is allowed only from `InService`, as on AWS.

- SSM `GetParameterHistory` by the parameter's ARN (SSM API reference: `Name` is "the name or
  Amazon Resource Name (ARN)"): answered as for its name; moto answered ParameterNotFound.

Where AWS is stricter than moto (each passes on plain moto and fails on AWS):
- SNS `Publish`: a `Subject` must be ASCII text without line breaks or control characters and
  fewer than 100 characters (SNS API reference, Publish); moto accepts any. Here: InvalidParameter.
- S3: a request for a bucket in another region than the request's (its SigV4 credential scope)
  answers `301 PermanentRedirect` with the bucket's region in `x-amz-bucket-region` (S3 user guide,
  "Virtual hosting of buckets" / "Making requests"); moto answers from any region.
- S3 `PutBucketPolicy`: refused with 403 `AccessDenied` ("User: ... is not authorized to perform:
  s3:PutBucketPolicy on resource: ... because public policies are blocked by the BlockPublicPolicy
  block public access setting.", S3's enhanced message for same-account requests, S3 user guide,
  "Troubleshoot access denied (403 Forbidden) errors") when the policy grants public access and
  `BlockPublicPolicy` is on for the bucket, for its account, or by an organization S3 policy (S3 API
  reference, PublicAccessBlockConfiguration: "Setting this element to TRUE causes Amazon S3 to
  reject calls to PUT Bucket policy if the specified bucket policy allows public access"). "Public"
  is a subset of the S3 user guide's "The meaning of 'public'": an `Allow` to `*`/`{"AWS": "*"}` (or
  with `NotPrincipal`) not fixed by a positive condition on aws:SourceIp/SourceArn/SourceVpc(e)/
  SourceOwner/SourceAccount/userid/PrincipalOrgID/PrincipalAccount/PrincipalArn or the SSE-KMS key
  id with wildcard-free values. A policy naming an IAM unique id (`AROA…`, `AIDA…`) or a deleted
  principal is refused with 400 `MalformedPolicy: Invalid principal in policy` (AWS re:Post, "How
  do I troubleshoot the error 'Invalid principal in policy'…"). A stored policy is normalised as S3
  stores it: an account id principal becomes the account's root ARN (IAM user guide, "AWS JSON
  policy elements: Principal"), single-item lists their item, no whitespace. moto stored any text.
- S3 `PutBucketEncryption` with `aws:kms:dsse` and `BucketKeyEnabled` true: refused (400
  `InvalidArgument`; the text is the emulator's). S3 Bucket Keys are for SSE-KMS only (S3 API
  reference, PutBucketEncryption; SSM runbook reference, AWS-EnableS3BucketKeys: "Amazon S3 Bucket
  Keys aren't supported for ... DSSE-KMS"); AWS documents no error for the combination, so this is
  stricter than documented: code that passes here sends no Bucket Keys with DSSE-KMS. moto kept it.
- KMS is eventually consistent (KMS developer guide, "Eventual consistency"): a read right after a
  write may return the old state. `GET /_harness/kms/stale-reads?key=ID` makes the first
  `GetKeyRotationStatus` of that key after each rotation write answer the state before the write.

Fault hooks (to prove the code's handling of situations AWS cannot be asked to produce on demand):
- `GET /_harness/s3/discard-public-access-block-writes?bucket=NAME`: from then on a
  `PutPublicAccessBlock` on that bucket succeeds but is not kept, as if another actor reverted it
  at once; the remediation's verification read must catch it.
- `GET /_harness/s3/organization-bpa?account=ACCOUNT&assign=all|none` (`assign=detach` to undo): an
  AWS Organizations S3 policy manages the account's Block Public Access. S3 Control
  `GetPublicAccessBlock` then answers the organization's effective setting (all four on or off),
  and `Put`/`DeletePublicAccessBlock` answer 403 `AccessDenied` (S3 Control API reference,
  GetPublicAccessBlock: "returns the effective account-level configuration, which may inherit from
  organization-level policies"; PutPublicAccessBlock: "You might get an Access Denied (403) error
  when the account is managed by organization-level Block Public Access policies"; AWS
  Organizations user guide, "Amazon S3 policies": detached, the account's own setting is back).
- `GET /_harness/s3/deleted-principal?arn=ARN&id=AROA...`: the IAM principal ARN was deleted: bucket
  policies naming it are read back with its unique id instead, as S3 shows a deleted principal
  (AWS re:Post, "Why is there an unknown principal format in my IAM resource-based policy?").
- `GET /_harness/s3/raw-policy?bucket=NAME&policy=URL-ENCODED`: store a bucket policy exactly as
  given, not in S3's normal form, so the next write of it is one S3 rewrites.
- `GET /_harness/requests[?reset=1]`: how many AWS requests the emulator has answered (benchmarks).
- `GET /_harness/sns/messages?topic=ARN`: the messages published to a topic (moto keeps them).
- `GET /_harness/faults?throttle=0.2&server_error=0.05&seed=7`: from then on that fraction of AWS
  requests is answered with the service's real throttling error (S3/S3 Control: 503 `SlowDown`;
  JSON protocols: 400 `ThrottlingException`; Bedrock: 429 `ThrottlingException`) or a 500
  `InternalError`, chosen by a seeded generator; `throttle=0&server_error=0` turns it off.
- `GET /_harness/faults?throttle=1&account=ACCOUNT`: the same, for requests signed with that
  account's credentials only (a hub's member account that AWS throttles; rate limits are per
  account and region); `throttle=0&account=ACCOUNT` turns it off.
- `GET /_harness/sts/assumed-roles`: every `AssumeRole` moto answered (role ARN, session name), to
  prove which accounts a hub assumed into.
- `GET /_harness/deny?method=PUT&query=publicAccessBlock` (or `?target=EnableKeyRotation`): matching
  requests are answered with AccessDenied, as an IAM policy without the permission would.
- Security Hub `BatchUpdateFindings` (PATCH `/findings/batchupdate`): not in moto. Here as AWS's API
  reference documents it (1-100 identifiers, Note Text/UpdatedBy ≤ 512, Workflow.Status values,
  UnprocessedFindings for unknown findings). `GET /_harness/securityhub/findings`: every finding
  and every accepted update request.
- Security Hub `BatchUpdateFindingsV2` (PATCH `/findingsv2/batchupdatev2`): not in moto. Here as
  AWS's API reference documents it (FindingIdentifiers or MetadataUids, not both, 1-100; Comment
  1-512; StatusId/SeverityId among OCSF's values; ValidationException otherwise;
  UnprocessedFindings for findings it does not hold). The new Security Hub's OCSF findings are
  made by AWS services, not imported: `GET /_harness/securityhub/v2-findings?account=A&uid=U&product=P`
  registers one (status New); without a query it lists the findings and accepted update requests.
- `GET /_harness/securityhub/deny-updates?id=ID` (repeatable): a `BatchUpdateFindings` or
  `BatchUpdateFindingsV2` request naming that finding (ASFF `Id`, OCSF `FindingInfoUid`) is answered
  403 `AccessDeniedException`, as IAM answers a role not allowed on that hub; nothing in it is updated.
- GuardDuty: one detector per account and region (a second `CreateDetector` is a
  BadRequestException, as on AWS); `UpdateDetector` changes the features it names and keeps the
  others (moto replaced the whole list); the foundational data sources (`CLOUD_TRAIL`, `DNS_LOGS`,
  `FLOW_LOGS`) are reported on while the detector exists and refused in requests (they are not
  `DetectorFeature` values); moto reported them off. `GetAdministratorAccount` answers with AWS's
  keys (`administrator.accountId`, `relationshipStatus`); moto's were capitalised.
- CloudTrail: a new trail has AWS's default basic event selector (all management events; moto had
  none); `PutEventSelectors` refuses what AWS refuses (basic selectors for data resources other
  than S3 objects, Lambda functions and DynamoDB tables — the guide's `AWS::Bedrock::*` basic
  selector among them —, more than five basic selectors, basic and advanced in one request, an
  advanced selector without `eventCategory` or a data selector without `resources.type`, more
  than 500 values across a trail's advanced selectors, a `resources.type` CloudTrail does not
  document), and one kind replaces the other (moto kept stale advanced selectors).
  `StartLogging`, `StopLogging` and `PutEventSelectors` on another region's trail (named by ARN,
  or a multi-Region trail's shadow by name) answer `InvalidHomeRegionException`, as AWS does; moto
  answered TrailNotFound. `DescribeTrails` reports `HasCustomEventSelectors` as it is (moto: always
  false).
- `GET /_harness/bedrock/destinations?bucket=B&logGroup=G&role=ROLE_ARN` (each repeatable; and
  `account=`/`region=` for another account's or region's; `trust=` a URL-encoded trust policy
  for the roles instead of plain trust in bedrock.amazonaws.com): create Bedrock log destinations
  as a user would.
- `GET /_harness/sagemaker/notebook-status?name=NAME&status=STATUS`: put a notebook in a state
  AWS passes through on its own (`Pending`, `Stopping`, `Updating`, `Failed`, ...), which moto skips.
"""

import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs

from moto.config import models as config_models
from moto.config.exceptions import InvalidParameterValueException, InvalidResultTokenException
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

# --- Config PutEvaluations ------------------------------------------------------------------

RECORDED_EVALUATIONS = []  # [{"resultToken": str, "evaluation": dict}]
_LOCK = threading.Lock()
_COMPLIANCE_TYPES = {"COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE", "INSUFFICIENT_DATA"}


def put_evaluations(self, evaluations=None, result_token=None, test_mode=False):
    """PutEvaluations as documented: 1-100 evaluations, a result token, valid compliance types."""
    if not evaluations:
        raise InvalidParameterValueException(
            "The Evaluations object in your request cannot be null."
            "Add the required parameters and try again."
        )
    if len(evaluations) > 100:
        raise InvalidParameterValueException("Evaluations must contain at most 100 items.")
    if not result_token:
        raise InvalidResultTokenException()
    for evaluation in evaluations:
        for field in ("ComplianceResourceType", "ComplianceResourceId", "ComplianceType", "OrderingTimestamp"):
            if not evaluation.get(field):
                raise InvalidParameterValueException(f"Evaluation is missing {field}.")
        if evaluation["ComplianceType"] not in _COMPLIANCE_TYPES:
            raise InvalidParameterValueException(
                f"ComplianceType {evaluation['ComplianceType']} is not valid."
            )
        if len(evaluation.get("Annotation") or "") > 256:
            raise InvalidParameterValueException("Annotation must be at most 256 characters.")
    if not test_mode:
        with _LOCK:
            for evaluation in evaluations:
                RECORDED_EVALUATIONS.append({"resultToken": result_token, "evaluation": evaluation})
    return {"FailedEvaluations": []}


config_models.ConfigBackend.put_evaluations = put_evaluations


# --- Bedrock model-invocation logging --------------------------------------------------------

from moto.bedrock import responses as bedrock_responses
from moto.s3 import models as s3_models
from moto.core.exceptions import JsonRESTError as _JsonRESTError


class BedrockValidationException(_JsonRESTError):
    """Bedrock's ValidationException with AWS's own message (moto's replaces it with a generic one)."""

    code = 400

    def __init__(self, message):
        super().__init__("ValidationException", message)


def get_model_invocation_logging_configuration(self):
    config = self.bedrock_backend.get_model_invocation_logging_configuration()
    return json.dumps({"loggingConfig": config} if config else {})


_original_put_logging = bedrock_responses.BedrockResponse.put_model_invocation_logging_configuration


def _bucket_exists(account, name):
    backend = s3_models.s3_backends[account]
    return any(name in b.buckets for b in backend.values())


def _bucket_in(account, region, name):
    """The bucket is the account's own (names are global) and in `region`, as Bedrock requires."""
    return any(
        name in b.buckets and b.buckets[name].region_name == region
        for b in s3_models.s3_backends[account].values()
    )


def _as_list(value):
    return [value] if isinstance(value, str) else list(value or [])


def _trust_conditions_hold(conditions, context):
    """The String*/Arn* conditions of a trust statement on Bedrock's request context (every
    operator must hold; a key the request does not carry fails it unless `...IfExists`; an
    operator not understood here fails, so the emulator never accepts what AWS might refuse)."""
    from fnmatch import fnmatchcase

    for operator, keys in (conditions or {}).items():
        base = operator[: -len("IfExists")] if operator.endswith("IfExists") else operator
        for key, wanted in (keys or {}).items():
            value = context.get(key)
            if value is None:
                if operator.endswith("IfExists"):
                    continue
                return False
            wanted = _as_list(wanted)
            if base in ("StringEquals", "ArnEquals"):
                ok = value in wanted
            elif base in ("StringLike", "ArnLike"):
                ok = any(fnmatchcase(value, w) for w in wanted)
            else:
                return False
            if not ok:
                return False
    return True


def _bedrock_may_assume(account, role_arn, region="us-east-1"):
    """The role is the account's own and its trust policy lets bedrock.amazonaws.com assume it
    for this account and region (Bedrock's requests carry `aws:SourceAccount` and an
    `aws:SourceArn` of the account and region; a trust scoped to another region refuses them)."""
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account]["global"].get_role_by_arn(role_arn)
    except Exception:
        return False
    context = {
        "aws:SourceAccount": account,
        "aws:SourceArn": f"arn:aws:bedrock:{region}:{account}:model-invocation-logging",
    }
    trust = role.assume_role_policy_document or "{}"
    trust = json.loads(trust) if isinstance(trust, str) else trust
    for statement in _as_list(trust.get("Statement")):
        services = _as_list((statement.get("Principal") or {}).get("Service"))
        actions = _as_list(statement.get("Action"))
        if (
            statement.get("Effect") == "Allow"
            and "bedrock.amazonaws.com" in services
            and ("sts:AssumeRole" in actions or "sts:*" in actions or "*" in actions)
            and _trust_conditions_hold(statement.get("Condition"), context)
        ):
            return True
    return False


def put_model_invocation_logging_configuration(self):
    config = json.loads(self.body or "{}").get("loggingConfig")
    if not isinstance(config, dict):
        raise BedrockValidationException("loggingConfig is required.")
    s3 = config.get("s3Config")
    if s3 is not None and not s3.get("bucketName"):
        raise BedrockValidationException("s3Config.bucketName is required.")
    cloudwatch = config.get("cloudWatchConfig")
    if cloudwatch is not None and not (cloudwatch.get("logGroupName") and cloudwatch.get("roleArn")):
        raise BedrockValidationException("cloudWatchConfig requires logGroupName and roleArn.")
    # AWS validates the destinations when the configuration is put (moto does not), and accepts
    # only destinations of the caller's account and the request's region.
    account = self.current_account
    if s3 is not None and not _bucket_in(account, self.region, s3["bucketName"]):
        raise BedrockValidationException(f"Failed to validate permissions for s3 bucket: {s3['bucketName']}.")
    if cloudwatch is not None:
        from moto.logs.models import logs_backends

        group = cloudwatch["logGroupName"]
        role = cloudwatch["roleArn"]
        if group not in logs_backends[account][self.region].groups or not _bedrock_may_assume(account, role, self.region):
            raise BedrockValidationException(
                f"Failed to validate permissions for log group: {group}, with role: {role}. "
                "Verify the IAM role permissions are correct."
            )
        large = (cloudwatch.get("largeDataDeliveryS3Config") or {}).get("bucketName")
        if large and not _bucket_in(account, self.region, large):
            raise BedrockValidationException(f"Failed to validate permissions for s3 bucket: {large}.")
    return _original_put_logging(self)


bedrock_responses.BedrockResponse.get_model_invocation_logging_configuration = get_model_invocation_logging_configuration
bedrock_responses.BedrockResponse.put_model_invocation_logging_configuration = put_model_invocation_logging_configuration


# --- KMS rotation period and on-demand rotation ----------------------------------------------

from moto.core.exceptions import JsonRESTError
from moto.kms import responses as kms_responses

ON_DEMAND_ROTATION_LIMIT = 10


class KmsError(JsonRESTError):
    code = 400

    def __init__(self, error_type, message):
        super().__init__(error_type, message)


def _rotatable_key(response, key_id):
    response._validate_cmk_id(key_id)
    key = response.kms_backend.describe_key(key_id)
    if key.key_spec != "SYMMETRIC_DEFAULT" or key.origin != "AWS_KMS":
        raise KmsError(
            "UnsupportedOperationException",
            f"{key.arn} key type or origin does not support automatic key rotation.",
        )
    if key.key_state != "Enabled":
        raise KmsError("KMSInvalidStateException", f"{key.arn} is {key.key_state}.")
    return key


def enable_key_rotation(self):
    key_id = self._get_param("KeyId")
    period = self._get_param("RotationPeriodInDays")
    if period is None:
        period = 365
    if not isinstance(period, int) or not 90 <= period <= 2560:
        raise KmsError(
            "ValidationException",
            f"1 validation error detected: Value '{period}' at 'rotationPeriodInDays' failed to satisfy "
            "constraint: Member must have value between 90 and 2560",
        )
    key = _rotatable_key(self, key_id)
    _remember_stale(key)
    key.key_rotation_status = True
    key.rotation_period_in_days = period
    return json.dumps(None)


def disable_key_rotation(self):
    key = _rotatable_key(self, self._get_param("KeyId"))
    key.key_rotation_status = False
    key.rotation_period_in_days = None
    return json.dumps(None)


STALE_KEYS = set()  # key ids whose next status read after a write answers the old state
STALE_PENDING = {}  # key id -> the body to answer once


def _rotation_body(key):
    body = {"KeyRotationEnabled": bool(key.key_rotation_status), "KeyId": key.arn}
    if key.key_rotation_status:
        body["RotationPeriodInDays"] = getattr(key, "rotation_period_in_days", None) or 365
    return body


def get_key_rotation_status(self):
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    key = self.kms_backend.describe_key(key_id)
    with _LOCK:
        stale = STALE_PENDING.pop(key.id, None)
    return json.dumps(stale if stale is not None else _rotation_body(key))


def _remember_stale(key):
    if key.id in STALE_KEYS:
        with _LOCK:
            STALE_PENDING[key.id] = _rotation_body(key)


_original_rotate = kms_responses.KmsResponse.rotate_key_on_demand


def rotate_key_on_demand(self):
    key = _rotatable_key(self, self._get_param("KeyId"))
    on_demand = [r for r in key.rotations if r.get("RotationType") == "ON_DEMAND"]
    if len(on_demand) >= ON_DEMAND_ROTATION_LIMIT:
        raise KmsError("LimitExceededException", f"{key.arn} has reached the on-demand rotation limit.")
    return _original_rotate(self)


kms_responses.KmsResponse.enable_key_rotation = enable_key_rotation
kms_responses.KmsResponse.disable_key_rotation = disable_key_rotation
kms_responses.KmsResponse.get_key_rotation_status = get_key_rotation_status
kms_responses.KmsResponse.rotate_key_on_demand = rotate_key_on_demand

_original_describe_key = kms_responses.KmsResponse.describe_key


def describe_key(self):
    key_id = self._get_param("KeyId") or ""
    parts = key_id.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn" or parts[4] == self.current_account:
        return _original_describe_key(self)
    from moto.kms.exceptions import NotFoundException
    from moto.kms.models import kms_backends

    backend = kms_backends[parts[4]][parts[3]]
    try:
        key = backend.describe_key(backend.any_id_to_key_id(key_id))
    except (KeyError, AttributeError):
        raise NotFoundException(f"Key '{key_id}' does not exist")
    return json.dumps(key.to_dict())


kms_responses.KmsResponse.describe_key = describe_key

from moto.kms import models as kms_models

_original_create_key = kms_models.KmsBackend.create_key


def create_key(self, policy, key_usage, key_spec, *args, **kwargs):
    return _original_create_key(self, policy, key_usage or "ENCRYPT_DECRYPT", key_spec, *args, **kwargs)


kms_models.KmsBackend.create_key = create_key


# Deleting a multi-Region primary key that still has replicas (KMS API reference,
# ScheduleKeyDeletion; developer guide, "Deleting multi-Region keys"): its state becomes
# `PendingReplicaDeletion`, with no DeletionDate but `PendingDeletionWindowInDays`, until the last
# replica is deleted. Key state table ("Key states of AWS KMS keys"): CancelKeyDeletion succeeds
# only in PendingDeletion and PendingReplicaDeletion (the key comes back Disabled); EnableKey fails
# in both. moto schedules every key as PendingDeletion and enables or cancels in any state.


def _live_replicas(backend, key):
    if not key.multi_region:
        return []
    config = key.multi_region_configuration
    if config.get("PrimaryKey", {}).get("Arn") != key.arn:
        return []
    live = []
    for replica in config.get("ReplicaKeys", []):
        replica_backend = kms_models.kms_backends[backend.account_id][replica["Region"]]
        if key.id in replica_backend.keys:
            live.append(replica)
    return live


def schedule_key_deletion_model(self, key_id, pending_window_in_days):
    key = self.keys[key_id]
    if 7 <= pending_window_in_days <= 30 and _live_replicas(self, key):
        key.enabled = False
        key.key_state = "PendingReplicaDeletion"
        key.deletion_date = None
        key.pending_deletion_window_in_days = pending_window_in_days
        return None
    return _original_schedule_model(self, key_id, pending_window_in_days)


def _kms_state_guard(backend, key_id, allowed, operation):
    key = backend.keys[backend.any_id_to_key_id(key_id)]
    if key.key_state not in allowed:
        raise KmsError(
            "KMSInvalidStateException",
            f"{key.arn} is {key.key_state} and cannot be used for {operation}.",
        )


def cancel_key_deletion_model(self, key_id):
    _kms_state_guard(self, key_id, ("PendingDeletion", "PendingReplicaDeletion"), "CancelKeyDeletion")
    return _original_cancel_model(self, key_id)


def enable_key_model(self, key_id):
    _kms_state_guard(self, key_id, ("Enabled", "Disabled", "Unavailable"), "EnableKey")
    return _original_enable_model(self, key_id)


def schedule_key_deletion_response(self):
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    window = self._get_param("PendingWindowInDays") or 30
    deletion_date = self.kms_backend.schedule_key_deletion(key_id, window)
    key = self.kms_backend.describe_key(key_id)
    body = {"KeyId": key.arn, "KeyState": key.key_state}
    if key.key_state == "PendingReplicaDeletion":
        body["PendingWindowInDays"] = window
    else:
        body["DeletionDate"] = deletion_date
    return json.dumps(body)


def key_to_dict(self):
    body = _original_key_to_dict(self)
    if self.key_state == "PendingReplicaDeletion":
        body["KeyMetadata"]["PendingDeletionWindowInDays"] = getattr(self, "pending_deletion_window_in_days", 30)
    return body


_original_schedule_model = kms_models.KmsBackend.schedule_key_deletion
_original_cancel_model = kms_models.KmsBackend.cancel_key_deletion
_original_enable_model = kms_models.KmsBackend.enable_key
_original_key_to_dict = kms_models.Key.to_dict
kms_models.KmsBackend.schedule_key_deletion = schedule_key_deletion_model
kms_models.KmsBackend.cancel_key_deletion = cancel_key_deletion_model
kms_models.KmsBackend.enable_key = enable_key_model
kms_models.Key.to_dict = key_to_dict
kms_responses.KmsResponse.schedule_key_deletion = schedule_key_deletion_response


# --- SageMaker notebook instances ---------------------------------------------------------------

from moto.core.responses import EmptyResult
from moto.sagemaker import models as sagemaker_models
from moto.sagemaker import responses as sagemaker_responses
from moto.sagemaker.exceptions import ValidationError as SageMakerValidationError


def _transition_error(notebook, allowed, target):
    return SageMakerValidationError(
        message=f"Status ({notebook.status}) not in ([{', '.join(allowed)}]). Unable to transition to "
        f"({target}) for Notebook Instance ({notebook.arn})"
    )


def stop_notebook_instance(self, notebook_instance_name):
    notebook = self.get_notebook_instance(notebook_instance_name)
    if notebook.status != "InService":
        raise _transition_error(notebook, ["InService"], "Stopping")
    notebook.stop()


def update_notebook_instance(self):
    notebook = self.sagemaker_backend.get_notebook_instance(self._get_param("NotebookInstanceName"))
    if notebook.status not in ("Stopped", "Failed"):
        raise _transition_error(notebook, ["Stopped", "Failed"], "Updating")
    root_access = self._get_param("RootAccess")
    if root_access is not None:
        if root_access not in ("Enabled", "Disabled"):
            raise SageMakerValidationError(message=f"Invalid RootAccess value: {root_access}")
        notebook.root_access = root_access
    for param, attribute in (
        ("InstanceType", "instance_type"),
        ("RoleArn", "role_arn"),
        ("VolumeSizeInGB", "volume_size_in_gb"),
        ("LifecycleConfigName", "lifecycle_config_name"),
    ):
        value = self._get_param(param)
        if value is not None:
            setattr(notebook, attribute, value)
    if self._get_param("DisassociateLifecycleConfig"):
        notebook.lifecycle_config_name = None
    notebook.status = "Stopped"
    return EmptyResult()


sagemaker_models.SageMakerModelBackend.stop_notebook_instance = stop_notebook_instance
sagemaker_responses.SageMakerResponse.update_notebook_instance = update_notebook_instance


def set_notebook_status(name, status):
    for account in sagemaker_models.sagemaker_backends.values():
        for backend in account.values():
            if name in backend.notebook_instances:
                backend.notebook_instances[name].status = status
                return True
    return False


# --- S3 fault hook ---------------------------------------------------------------------------

from moto.s3 import models as s3_models

DISCARD_BPA_WRITES = set()
_original_put_bpa = s3_models.S3Backend.put_public_access_block


def put_public_access_block(self, bucket_name, pub_block_config):
    if bucket_name in DISCARD_BPA_WRITES:
        self.get_bucket(bucket_name)  # still NoSuchBucket for a missing bucket
        return None
    return _original_put_bpa(self, bucket_name, pub_block_config)


s3_models.S3Backend.put_public_access_block = put_public_access_block


# --- SNS Publish subject ----------------------------------------------------------------------

from moto.sns import models as sns_models
from moto.sns.exceptions import InvalidParameterValue as SnsInvalidParameter

_original_publish = sns_models.SNSBackend.publish


def publish(self, message, *args, **kwargs):
    subject = kwargs.get("subject")
    if subject is None and len(args) >= 3:
        subject = args[2]
    if subject is not None and (
        len(subject) >= 100 or not subject.isascii() or any(ord(c) < 32 or ord(c) == 127 for c in subject)
    ):
        raise SnsInvalidParameter(
            "Subject must be ASCII text that begins with a letter, number, or punctuation mark; must not "
            "include line breaks or control characters; and must be less than 100 characters long."
        )
    return _original_publish(self, message, *args, **kwargs)


sns_models.SNSBackend.publish = publish


# --- S3: a bucket answers in its own region only ---------------------------------------------------

import re as _re

_SCOPE = _re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


def _wrong_region(environ, start_response):
    """301 PermanentRedirect for a path-style request to a bucket of another region."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match or match.group(2) != "s3":
        return None
    region = match.group(1)
    parts = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)
    name = parts[0]
    query = environ.get("QUERY_STRING", "")
    if not name or (environ.get("REQUEST_METHOD") == "PUT" and len(parts) == 1 and not query):
        return None  # ListBuckets, CreateBucket
    if "location" in parse_qs(query, keep_blank_values=True):
        return None  # GetBucketLocation answers from any region
    bucket = None
    for backend in s3_models.s3_backends.values():
        for partition_backend in backend.values():
            bucket = partition_backend.buckets.get(name) or bucket
    if bucket is None or bucket.region_name == region:
        return None
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PermanentRedirect</Code><Message>The bucket you '
        "are attempting to access must be addressed using the specified endpoint. Please send all future "
        f"requests to this endpoint.</Message><Endpoint>s3.{bucket.region_name}.amazonaws.com</Endpoint>"
        f"<Bucket>{name}</Bucket></Error>"
    ).encode()
    start_response(
        "301 Moved Permanently",
        [("Content-Type", "application/xml"), ("Content-Length", str(len(body))),
         ("x-amz-bucket-region", bucket.region_name)],
    )
    return [body]


# --- S3: bucket policies, DSSE-KMS default encryption, organization-managed Block Public Access --

from xml.sax.saxutils import escape as _xml_escape

from moto.s3control import models as s3control_models
from werkzeug.exceptions import HTTPException as _HTTPException


class S3Refusal(_HTTPException):
    """An S3 error answer: S3's flat `<Error>` body, or S3 Control's `<ErrorResponse><Error>`."""

    def __init__(self, status, code, message, control=False):
        super().__init__()
        self.code = status
        error = f"<Code>{code}</Code><Message>{_xml_escape(message)}</Message>"
        if control:
            body = f"<ErrorResponse><Error>{error}</Error><RequestId>harness</RequestId></ErrorResponse>"
        else:
            body = f"<Error>{error}<RequestId>harness</RequestId></Error>"
        # moto answers an HTTPException raised by a backend with its `description` as the body.
        self.description = '<?xml version="1.0" encoding="UTF-8"?>' + body

    def get_headers(self, *args, **kwargs):
        return [("Content-Type", "application/xml")]

    def get_body(self, *args, **kwargs):
        return self.description


# Accounts whose Block Public Access an AWS Organizations S3 policy manages: account -> "all" | "none".
ORGANIZATION_BPA = {}
# IAM principals deleted since a bucket policy named them: ARN -> the unique id S3 shows instead.
DELETED_PRINCIPALS = {}

# IAM unique ids of users (AIDA...) and roles (AROA...) (IAM user guide, "IAM identifiers", unique IDs).
_UNIQUE_ID = _re.compile(r"^(AIDA|AROA)[A-Z0-9]{12,}$")
# "The meaning of 'public'" (S3 user guide, Blocking public access): a grant to everyone is not public
# when a condition fixes it to one of these (a subset: the guide also counts fixed principals, VPCs
# and more; IP ranges are taken as fixed when no wider than the whole internet).
_FIXING_KEYS = {
    "aws:sourceip", "aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceowner",
    "aws:sourceaccount", "s3:x-amz-server-side-encryption-aws-kms-key-id", "aws:userid",
    "aws:principalorgid", "aws:principalaccount", "aws:principalarn",
}


def _values(value):
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _statements(doc):
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    return [s for s in _values(statements) if isinstance(s, dict)]


def _aws_principals(statement):
    found = []
    for field in ("Principal", "NotPrincipal"):
        principal = statement.get(field)
        if isinstance(principal, dict):
            found.extend(v for v in _values(principal.get("AWS")) if isinstance(v, str))
    return found


def _fixed(value):
    text = str(value)
    return "*" not in text and "?" not in text and text not in ("0.0.0.0/0", "::/0")


def _grants_public_access(doc):
    """Whether a policy grants public access as S3's "The meaning of 'public'" defines it (subset)."""
    for statement in _statements(doc):
        if statement.get("Effect") != "Allow":
            continue
        if "NotPrincipal" in statement:
            return True
        principal = statement.get("Principal")
        everyone = principal == "*" or (
            isinstance(principal, dict) and "*" in _values(principal.get("AWS"))
        )
        if not everyone:
            continue
        conditions = statement.get("Condition") or {}
        fixing = any(
            "Not" not in operator and "Null" not in operator and not operator.endswith("IfExists")
            and key.lower() in _FIXING_KEYS and _values(value) and all(_fixed(v) for v in _values(value))
            for operator, block in conditions.items() if isinstance(block, dict)
            for key, value in block.items()
        )
        if not fixing:
            return True
    return False


def _collapse(value):
    """Single-item lists of strings become the string, everywhere below a statement."""
    if isinstance(value, dict):
        return {k: _collapse(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_collapse(v) for v in value]
        return items[0] if len(items) == 1 and isinstance(items[0], str) else items
    return value


def _normalised(doc, partition):
    """A policy as S3 stores it: an account id principal as the account's root ARN, single-item lists
    as strings, no whitespace."""
    for statement in _statements(doc):
        for field in ("Principal", "NotPrincipal"):
            principal = statement.get(field)
            if isinstance(principal, dict) and "AWS" in principal:
                principal["AWS"] = [
                    f"arn:{partition}:iam::{v}:root" if isinstance(v, str) and v.isdigit() and len(v) == 12 else v
                    for v in _values(principal["AWS"])
                ]
    if isinstance(doc.get("Statement"), list):
        doc["Statement"] = [_collapse(s) for s in doc["Statement"]]
    elif isinstance(doc.get("Statement"), dict):
        doc["Statement"] = _collapse(doc["Statement"])
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def _account_blocks_public_policy(account_id, partition):
    assign = ORGANIZATION_BPA.get(account_id)
    if assign is not None:
        return assign == "all"
    account = s3control_models.s3control_backends[account_id][partition].public_access_block
    return bool(account and account.block_public_policy)


def put_bucket_policy(self, bucket_name, policy):
    bucket = self.get_bucket(bucket_name)
    try:
        doc = json.loads(policy)
    except (ValueError, TypeError):
        doc = None
    if not isinstance(doc, dict):
        bucket.policy = policy  # moto's own behaviour for text that is not a JSON object
        return
    for statement in _statements(doc):
        for principal in _aws_principals(statement):
            if _UNIQUE_ID.match(principal) or principal in DELETED_PRINCIPALS:
                raise S3Refusal(400, "MalformedPolicy", "Invalid principal in policy")
    partition = getattr(self, "partition", "aws")
    bucket_block = bucket.public_access_block
    if _grants_public_access(doc) and (
        (bucket_block is not None and bucket_block.block_public_policy)
        or _account_blocks_public_policy(bucket.account_id, partition)
    ):
        # S3's enhanced access-denied message for a request of the bucket owner's account (S3 user
        # guide, "Troubleshoot access denied (403 Forbidden) errors": "User ... is not authorized to
        # perform ... because CONTEXT"); the caller is not known here, so the account's root.
        raise S3Refusal(
            403, "AccessDenied",
            f"User: arn:{partition}:iam::{bucket.account_id}:root is not authorized to perform: "
            f"s3:PutBucketPolicy on resource: \"arn:{partition}:s3:::{bucket_name}\" because public "
            "policies are blocked by the BlockPublicPolicy block public access setting.")
    bucket.policy = _normalised(doc, partition)


def get_bucket_policy(self, bucket_name):
    policy = self.get_bucket(bucket_name).policy
    if not policy or not DELETED_PRINCIPALS:
        return policy
    try:
        doc = json.loads(policy)
    except (ValueError, TypeError):
        return policy
    deleted = False
    for statement in _statements(doc):
        for field in ("Principal", "NotPrincipal"):
            principal = statement.get(field)
            names = _values(principal.get("AWS")) if isinstance(principal, dict) else []
            if any(isinstance(v, str) and v in DELETED_PRINCIPALS for v in names):
                shown = [DELETED_PRINCIPALS.get(v, v) if isinstance(v, str) else v for v in names]
                principal["AWS"] = shown[0] if len(shown) == 1 else shown
                deleted = True
    if not deleted:
        return policy
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


_original_put_encryption = s3_models.S3Backend.put_bucket_encryption


def put_bucket_encryption(self, bucket_name, encryption):
    rule = (encryption or {}).get("Rule")
    rule = rule if isinstance(rule, dict) else {}
    default = rule.get("ApplyServerSideEncryptionByDefault") or {}
    bucket_key = str(rule.get("BucketKeyEnabled", "false")).lower() == "true"
    if default.get("SSEAlgorithm") == "aws:kms:dsse" and bucket_key:
        self.get_bucket(bucket_name)
        raise S3Refusal(400, "InvalidArgument", "S3 Bucket Keys are not supported for DSSE-KMS")
    return _original_put_encryption(self, bucket_name, encryption)


s3_models.S3Backend.put_bucket_policy = put_bucket_policy
s3_models.S3Backend.get_bucket_policy = get_bucket_policy
s3_models.S3Backend.put_bucket_encryption = put_bucket_encryption

_original_get_account_bpa = s3control_models.S3ControlBackend.get_public_access_block
_original_put_account_bpa = s3control_models.S3ControlBackend.put_public_access_block
_original_delete_account_bpa = s3control_models.S3ControlBackend.delete_public_access_block


def _refuse_if_organization_managed(account_id):
    if account_id in ORGANIZATION_BPA:
        raise S3Refusal(403, "AccessDenied", "Access Denied", control=True)


def get_account_public_access_block(self, account_id):
    assign = ORGANIZATION_BPA.get(account_id)
    if assign is not None and account_id == self.account_id:
        on = assign == "all"
        return s3_models.PublicAccessBlock(on, on, on, on)
    return _original_get_account_bpa(self, account_id)


def put_account_public_access_block(self, account_id, pub_block_config):
    _refuse_if_organization_managed(account_id)
    return _original_put_account_bpa(self, account_id, pub_block_config)


def delete_account_public_access_block(self, account_id):
    _refuse_if_organization_managed(account_id)
    return _original_delete_account_bpa(self, account_id)


s3control_models.S3ControlBackend.get_public_access_block = get_account_public_access_block
s3control_models.S3ControlBackend.put_public_access_block = put_account_public_access_block
s3control_models.S3ControlBackend.delete_public_access_block = delete_account_public_access_block


def s3_harness(path, query, start_response):
    """The S3 harness paths (`/_harness/s3/...`), or None for another path."""
    def first(name):
        return (query.get(name) or [""])[0]

    if path == "/_harness/s3/organization-bpa":
        with _LOCK:
            if first("assign") in ("all", "none"):
                ORGANIZATION_BPA[first("account")] = first("assign")
            else:
                ORGANIZATION_BPA.pop(first("account"), None)
            return json_response(start_response, dict(ORGANIZATION_BPA))
    if path == "/_harness/s3/deleted-principal":
        with _LOCK:
            DELETED_PRINCIPALS[first("arn")] = first("id")
            return json_response(start_response, dict(DELETED_PRINCIPALS))
    if path == "/_harness/s3/raw-policy":
        for backend in s3_models.s3_backends.values():
            for partition_backend in backend.values():
                if first("bucket") in partition_backend.buckets:
                    partition_backend.buckets[first("bucket")].policy = first("policy").encode()
                    return json_response(start_response, {"stored": True})
        return json_response(start_response, {"stored": False})
    return None


# --- Bedrock destinations, made the way a user makes them ---------------------------------------

BEDROCK_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def create_bedrock_destinations(query, account="123456789012", region="us-east-1"):
    """Buckets (in `region`), log groups (in `region`) and delivery roles that do not exist yet in
    `account`; a role trusts Bedrock (or `trust`, the trust policy a template gives it)."""
    from moto.iam.models import iam_backends
    from moto.logs.models import logs_backends

    made = []
    for bucket in query.get("bucket") or []:
        if not _bucket_exists(account, bucket):
            s3_models.s3_backends[account]["aws"].create_bucket(bucket, region)
            made.append(bucket)
    for group in query.get("logGroup") or []:
        if group not in logs_backends[account][region].groups:
            logs_backends[account][region].create_log_group(group, {})
            made.append(group)
    for arn in query.get("role") or []:
        iam = iam_backends[account]["global"]
        name = arn.rsplit("/", 1)[-1]
        path = "/" + arn.split(":role/", 1)[1].rsplit("/", 1)[0] + "/" if arn.count("/") > 1 else "/"
        try:
            iam.get_role(name)
        except Exception:
            trust = (query.get("trust") or [BEDROCK_TRUST])[0]
            iam.create_role(name, trust, path, None, "", [], None)
            made.append(arn)
    return made


# --- Security Hub BatchUpdateFindings -----------------------------------------------------------

from moto.securityhub import responses as securityhub_responses
from moto.securityhub import urls as securityhub_urls
from moto.securityhub.models import securityhub_backends

securityhub_urls.url_paths["{0}/findings/batchupdate$"] = securityhub_responses.SecurityHubResponse.dispatch
WORKFLOW_STATUSES = {"NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"}
FINDING_UPDATES = []  # every accepted request body, in order


class SecurityHubInvalidInput(_JsonRESTError):
    code = 400

    def __init__(self, message):
        super().__init__("InvalidInputException", message)


# Finding ids (ASFF `Id`, OCSF `FindingInfoUid`) whose update requests are refused as IAM refuses a
# role without the permission on that hub: the whole request, 403 AccessDeniedException.
DENIED_FINDING_UPDATES = set()


class SecurityHubAccessDenied(_JsonRESTError):
    code = 403

    def __init__(self, message):
        super().__init__("AccessDeniedException", message)


def _refuse_denied_update(identifiers, field, action):
    with _LOCK:
        denied = any(i.get(field) in DENIED_FINDING_UPDATES for i in identifiers)
    if denied:
        raise SecurityHubAccessDenied(f"User is not authorized to perform: {action}")


def batch_update_findings(self):
    """PATCH /findings/batchupdate as AWS documents it: 1-100 identifiers (Id + ProductArn), a Note
    with Text and UpdatedBy of at most 512 characters each, a valid Workflow.Status; findings it
    cannot find are returned as UnprocessedFindings, the rest are updated."""
    body = json.loads(self.body or "{}")
    identifiers = body.get("FindingIdentifiers") or []
    _refuse_denied_update(identifiers, "Id", "securityhub:BatchUpdateFindings")
    if not 1 <= len(identifiers) <= 100:
        raise SecurityHubInvalidInput("FindingIdentifiers must contain between 1 and 100 items.")
    note = body.get("Note")
    if note is not None:
        for field in ("Text", "UpdatedBy"):
            if not note.get(field) or len(note[field]) > 512:
                raise SecurityHubInvalidInput(f"Note.{field} must be 1-512 characters.")
    status = (body.get("Workflow") or {}).get("Status")
    if status is not None and status not in WORKFLOW_STATUSES:
        raise SecurityHubInvalidInput(f"Workflow.Status {status} is not valid.")
    backend = securityhub_backends[self.current_account][self.region]
    processed, unprocessed = [], []
    for ident in identifiers:
        found = next(
            (f for f in backend.findings if f.id == ident.get("Id") and f.data.get("ProductArn") == ident.get("ProductArn")),
            None,
        )
        if found is None:
            unprocessed.append({"FindingIdentifier": ident, "ErrorCode": "FindingNotFound",
                                "ErrorMessage": "Finding not found"})
            continue
        if status is not None:
            found.data["Workflow"] = {"Status": status}
        if note is not None:
            found.data["Note"] = {"Text": note["Text"], "UpdatedBy": note["UpdatedBy"],
                                  "UpdatedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
        processed.append(ident)
    with _LOCK:
        FINDING_UPDATES.append(body)
    return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})


securityhub_responses.SecurityHubResponse.batch_update_findings = batch_update_findings


# --- Security Hub BatchUpdateFindingsV2 (the new Security Hub's OCSF findings) ------------------

securityhub_urls.url_paths["{0}/findingsv2/batchupdatev2$"] = securityhub_responses.SecurityHubResponse.dispatch
OCSF_FINDINGS = {}  # (CloudAccountUid, FindingInfoUid, MetadataProductUid) -> {"status_id", "comment"}
OCSF_UPDATES = []  # every accepted request body, in order
OCSF_STATUS_IDS = {0, 1, 2, 3, 4, 5, 6, 99}
OCSF_SEVERITY_IDS = {0, 1, 2, 3, 4, 5, 6, 99}


class SecurityHubValidation(_JsonRESTError):
    code = 400

    def __init__(self, message):
        super().__init__("ValidationException", message)


def batch_update_findings_v2(self):
    """PATCH /findingsv2/batchupdatev2 as AWS documents it: FindingIdentifiers
    {CloudAccountUid, FindingInfoUid, MetadataProductUid} or MetadataUids, not both, 1-100 of
    them; Comment 1-512 characters; StatusId and SeverityId among OCSF's values. Findings it does
    not hold come back in UnprocessedFindings; the others are updated and ProcessedFindings."""
    body = json.loads(self.body or "{}")
    identifiers = body.get("FindingIdentifiers") or []
    _refuse_denied_update(identifiers, "FindingInfoUid", "securityhub:BatchUpdateFindings")
    uids = body.get("MetadataUids") or []
    if identifiers and uids:
        raise SecurityHubValidation("MetadataUids cannot be used together with FindingIdentifiers.")
    if not 1 <= len(identifiers or uids) <= 100:
        raise SecurityHubValidation("FindingIdentifiers or MetadataUids must have between 1 and 100 items.")
    comment = body.get("Comment")
    if comment is not None and not 1 <= len(comment) <= 512:
        raise SecurityHubValidation("Comment must be 1-512 characters.")
    if body.get("StatusId") is not None and body["StatusId"] not in OCSF_STATUS_IDS:
        raise SecurityHubValidation(f"StatusId {body['StatusId']} is not valid.")
    if body.get("SeverityId") is not None and body["SeverityId"] not in OCSF_SEVERITY_IDS:
        raise SecurityHubValidation(f"SeverityId {body['SeverityId']} is not valid.")
    for ident in identifiers:
        for field in ("CloudAccountUid", "FindingInfoUid", "MetadataProductUid"):
            if not (ident.get(field) or "").strip():
                raise SecurityHubValidation(f"{field} is required.")
    processed, unprocessed = [], []
    with _LOCK:
        for ident in identifiers:
            key = (ident["CloudAccountUid"], ident["FindingInfoUid"], ident["MetadataProductUid"])
            found = OCSF_FINDINGS.get(key)
            if found is None:
                unprocessed.append({"FindingIdentifier": ident, "ErrorCode": "ResourceNotFoundException",
                                    "ErrorMessage": "Finding not found"})
                continue
            if body.get("StatusId") is not None:
                found["status_id"] = body["StatusId"]
            if comment is not None:
                found["comment"] = comment
            processed.append({"FindingIdentifier": ident})
        for uid in uids:
            unprocessed.append({"MetadataUid": uid, "ErrorCode": "ResourceNotFoundException",
                                "ErrorMessage": "Finding not found"})
        OCSF_UPDATES.append(body)
    return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})


securityhub_responses.SecurityHubResponse.batch_update_findings_v2 = batch_update_findings_v2


# --- GuardDuty detectors and features -----------------------------------------------------------

from moto.guardduty import models as guardduty_models
from moto.guardduty.exceptions import GuardDutyException

FOUNDATIONAL_SOURCES = ("CLOUD_TRAIL", "DNS_LOGS", "FLOW_LOGS")
SETTABLE_FEATURES = {
    "S3_DATA_EVENTS", "EKS_AUDIT_LOGS", "EBS_MALWARE_PROTECTION", "RDS_LOGIN_EVENTS",
    "EKS_RUNTIME_MONITORING", "LAMBDA_NETWORK_LOGS", "RUNTIME_MONITORING", "AI_PROTECTION",
}


class GuardDutyBadRequest(GuardDutyException):
    code = 400

    def __init__(self, message):
        super().__init__("BadRequestException", message)


def _check_features(features):
    for f in features or []:
        if f.get("name") not in SETTABLE_FEATURES:
            raise GuardDutyBadRequest(
                "The request is rejected because an invalid or out-of-range value is specified as an input parameter."
            )
    # GuardDuty API reference, CreateDetector / UpdateDetector: "Specifying both EKS Runtime
    # Monitoring (EKS_RUNTIME_MONITORING) and Runtime Monitoring (RUNTIME_MONITORING) will cause an
    # error" (Runtime Monitoring already covers EKS).
    names = {f.get("name") for f in features or []}
    if {"EKS_RUNTIME_MONITORING", "RUNTIME_MONITORING"} <= names:
        raise GuardDutyBadRequest(
            "The request is rejected because EKS_RUNTIME_MONITORING and RUNTIME_MONITORING cannot both be specified."
        )


_moto_create_detector = guardduty_models.GuardDutyBackend.create_detector


def create_detector(self, enable, finding_publishing_frequency, data_sources, tags, features):
    """One detector per account and region; only settable features in the request."""
    if self.detectors:
        raise GuardDutyBadRequest("The request is rejected because a detector already exists for the current account.")
    _check_features(features)
    return _moto_create_detector(self, enable, finding_publishing_frequency, data_sources, tags, features)


def update_detector(self, detector_id, enable, finding_publishing_frequency, data_sources, features):
    """Features are updated one by one (the others keep their status), as AWS does."""
    detector = self.get_detector(detector_id)
    _check_features(features)
    merged = {f["name"]: dict(f) for f in detector.features}
    for f in features or []:
        merged[f["name"]] = dict(f)
    detector.update(enable, finding_publishing_frequency, data_sources, list(merged.values()) if features is not None else None)


_moto_detector_json = guardduty_models.Detector.to_json


def detector_json(self):
    """Foundational data sources are reported on while the detector exists (GuardDuty user guide,
    "Foundational data sources"); moto reports them off and lists only requested features."""
    body = _moto_detector_json(self)
    body["dataSources"]["cloudTrail"] = {"status": "ENABLED"}
    body["dataSources"]["dnsLogs"] = {"status": "ENABLED"}
    body["dataSources"]["flowLogs"] = {"status": "ENABLED"}
    listed = {f.get("name") for f in self.features}
    body["features"] = [{"name": n, "status": "ENABLED"} for n in FOUNDATIONAL_SOURCES] + [
        {"name": f["name"], "status": f.get("status", "DISABLED")} for f in self.features if f.get("name") not in FOUNDATIONAL_SOURCES
    ]
    return body


def get_administrator_account(self, detector_id):
    """AWS answers `{"administrator": {"accountId", "relationshipStatus", ...}}` (GuardDuty API
    reference, GetAdministratorAccount); moto's keys were capitalised, which SDKs do not read."""
    self.get_detector(detector_id)
    if not self.admin_account_ids:
        return {}
    return {"administrator": {"accountId": self.admin_account_ids[0], "relationshipStatus": "Enabled",
                              "invitationId": "harness", "invitedAt": "2026-11-26T10:00:00.000Z"}}


guardduty_models.GuardDutyBackend.get_administrator_account = get_administrator_account
guardduty_models.GuardDutyBackend.create_detector = create_detector
guardduty_models.GuardDutyBackend.update_detector = update_detector
guardduty_models.Detector.to_json = detector_json


# --- CloudTrail event selectors ------------------------------------------------------------------

from moto.cloudtrail import models as cloudtrail_models
from moto.core.exceptions import JsonRESTError as _CloudTrailError

# Basic event selectors know these data resource types only (CloudTrail API reference,
# DataResource); anything else — Bedrock's included — needs advanced event selectors.
BASIC_DATA_TYPES = {"AWS::S3::Object", "AWS::Lambda::Function", "AWS::DynamoDB::Table"}
ADVANCED_FIELDS = {"eventCategory", "eventSource", "eventName", "eventType", "readOnly", "resources.type",
                   "resources.ARN", "errorCode", "userIdentity.arn", "sessionCredentialFromConsole",
                   "vpcEndpointId", "eventTypeName"}
# `resources.type` values CloudTrail documents (CloudTrail user guide, "Understanding CloudTrail
# events", table "Data events supported by AWS CloudTrail"): every Amazon Bedrock row, and the rows
# tests use. A value it does not know is refused (InvalidEventSelectorsException: "Specify a valid
# value for a parameter", CloudTrail API reference, PutEventSelectors errors).
DATA_EVENT_TYPES = {
    "AWS::Bedrock::AdvancedOptimizePromptJob", "AWS::Bedrock::AgentAlias", "AWS::Bedrock::AsyncInvoke",
    "AWS::Bedrock::AutomatedReasoningPolicy", "AWS::Bedrock::AutomatedReasoningPolicyVersion",
    "AWS::Bedrock::Blueprint", "AWS::Bedrock::DataAutomationInvocation", "AWS::Bedrock::DataAutomationProfile",
    "AWS::Bedrock::DataAutomationProject", "AWS::Bedrock::FlowAlias", "AWS::Bedrock::FlowExecution",
    "AWS::Bedrock::Guardrail", "AWS::Bedrock::InlineAgent", "AWS::Bedrock::KnowledgeBase", "AWS::Bedrock::Model",
    "AWS::Bedrock::PromptVersion", "AWS::Bedrock::Session", "AWS::Bedrock::Tool",
    "AWS::S3::Object", "AWS::S3::AccessPoint", "AWS::S3Express::Object", "AWS::Lambda::Function",
    "AWS::DynamoDB::Table", "AWS::DynamoDB::Stream",
}
# "If a trail uses advanced event selectors, a maximum of 500 total values for all conditions in all
# advanced event selectors is allowed" (CloudTrail user guide, "Quotas in AWS CloudTrail"; API
# reference, InvalidEventSelectorsException).
MAX_ADVANCED_VALUES = 500
_CONDITIONS = ("Equals", "StartsWith", "EndsWith", "NotEquals", "NotStartsWith", "NotEndsWith")


class InvalidHomeRegion(_CloudTrailError):
    code = 400

    def __init__(self, message):
        super().__init__("InvalidHomeRegionException", message)


class InvalidEventSelectors(_CloudTrailError):
    code = 400

    def __init__(self, message):
        super().__init__("InvalidEventSelectorsException", message)


class InvalidParameterCombination(_CloudTrailError):
    code = 400

    def __init__(self, message):
        super().__init__("InvalidParameterCombinationException", message)


_moto_trail_init = cloudtrail_models.Trail.__init__


def trail_init(self, *args, **kwargs):
    """A new trail records all management events (its default basic selector), as on AWS."""
    _moto_trail_init(self, *args, **kwargs)
    self.event_selectors = [{"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [],
                             "ExcludeManagementEventSources": []}]


def trail_put_event_selectors(self, event_selectors, advanced_event_selectors):
    """Validated as AWS does; one kind replaces the other (a trail has basic or advanced ones)."""
    if event_selectors and advanced_event_selectors:
        raise InvalidParameterCombination("You cannot use both EventSelectors and AdvancedEventSelectors in a PutEventSelectors request.")
    if event_selectors:
        if len(event_selectors) > 5:
            raise InvalidEventSelectors("A trail can have up to 5 event selectors.")
        for selector in event_selectors:
            for resource in selector.get("DataResources") or []:
                if resource.get("Type") not in BASIC_DATA_TYPES:
                    raise InvalidEventSelectors(
                        f"Value {resource.get('Type')} for parameter DataResources.Type is invalid; "
                        "use advanced event selectors for this resource type.")
        self.event_selectors = event_selectors
        self.advanced_event_selectors = []
    elif advanced_event_selectors:
        for selector in advanced_event_selectors:
            fields = {f.get("Field"): f for f in selector.get("FieldSelectors") or []}
            if "eventCategory" not in fields or set(fields) - ADVANCED_FIELDS:
                raise InvalidEventSelectors("Each advanced event selector needs eventCategory and known fields only.")
            if fields["eventCategory"].get("Equals") == ["Data"] and "resources.type" not in fields:
                raise InvalidEventSelectors("A data event selector needs resources.type.")
            for value in (fields.get("resources.type") or {}).get("Equals") or []:
                if value not in DATA_EVENT_TYPES:
                    raise InvalidEventSelectors(f"Value {value} for resources.type is not valid.")
        values = sum(len(f.get(c) or []) for s in advanced_event_selectors
                     for f in s.get("FieldSelectors") or [] for c in _CONDITIONS)
        if values > MAX_ADVANCED_VALUES:
            raise InvalidEventSelectors(
                f"The advanced event selectors have {values} values; a maximum of {MAX_ADVANCED_VALUES} total "
                "values for all conditions in all advanced event selectors is allowed.")
        self.event_selectors = []
        self.advanced_event_selectors = advanced_event_selectors


cloudtrail_models.Trail.__init__ = trail_init
cloudtrail_models.Trail.put_event_selectors = trail_put_event_selectors


def _home_trail(self, name_or_arn):
    """The trail `name_or_arn` if this backend's region (the request's, from its SigV4 credential
    scope) is its home region. Another region's trail — named by its ARN, or by name where a
    multi-Region trail has its shadow — is refused: "The PutEventSelectors operation must be called
    from the Region in which the trail was created; otherwise, an InvalidHomeRegionException is
    thrown" (CloudTrail API reference, PutEventSelectors); StartLogging and StopLogging "must be
    called from the Region in which the trail was created" and "cannot be called on the shadow
    trails" (API reference, StartLogging, StopLogging). moto's backend is per region and answered
    TrailNotFound."""
    try:
        return self.get_trail(name_or_arn)
    except cloudtrail_models.TrailNotFoundException:
        for region, backend in list(cloudtrail_models.cloudtrail_backends[self.account_id].items()):
            if region == self.region_name:
                continue
            for trail in list(backend.trails.values()):
                if trail.arn == name_or_arn or (trail.trail_name == name_or_arn and trail.is_multi_region):
                    raise InvalidHomeRegion(
                        f"Trail {trail.arn} was created in {trail.region_name}: call this operation in "
                        f"its home region, not {self.region_name}.")
        raise


def backend_start_logging(self, name):
    _home_trail(self, name).start_logging()


def backend_stop_logging(self, name):
    _home_trail(self, name).stop_logging()


def backend_put_event_selectors(self, trail_name, event_selectors, advanced_event_selectors):
    trail = _home_trail(self, trail_name)
    trail.put_event_selectors(event_selectors, advanced_event_selectors)
    return trail.arn, event_selectors, advanced_event_selectors


_moto_trail_description = cloudtrail_models.Trail.description
_DEFAULT_SELECTORS = [{"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [],
                       "ExcludeManagementEventSources": []}]


def trail_description(self, include_region=False):
    """`HasCustomEventSelectors` as it is ("Specifies if the trail has custom event selectors",
    CloudTrail API reference, Trail): false only with the default selector; moto said false always."""
    desc = _moto_trail_description(self, include_region)
    desc["HasCustomEventSelectors"] = bool(self.advanced_event_selectors) or self.event_selectors != _DEFAULT_SELECTORS
    return desc


cloudtrail_models.CloudTrailBackend.start_logging = backend_start_logging
cloudtrail_models.CloudTrailBackend.stop_logging = backend_stop_logging
cloudtrail_models.CloudTrailBackend.put_event_selectors = backend_put_event_selectors
cloudtrail_models.Trail.description = trail_description


# --- SSM GetParameterHistory by ARN ---------------------------------------------------------------
# SSM API reference, GetParameterHistory: `Name` is "the name or Amazon Resource Name (ARN) of the
# parameter for which you want to review history" (as for GetParameter, which moto reads by ARN).
# moto looked the ARN up as a name and answered ParameterNotFound.

from moto.ssm import models as ssm_models

_moto_get_parameter_history = ssm_models.SimpleSystemManagerBackend.get_parameter_history


def get_parameter_history(self, name, next_token, max_results=50):
    if name.startswith(self.ssm_prefix + "/"):
        name = name[len(self.ssm_prefix):]
    return _moto_get_parameter_history(self, name, next_token, max_results)


ssm_models.SimpleSystemManagerBackend.get_parameter_history = get_parameter_history


# --- Harness endpoints ------------------------------------------------------------------------

def json_response(start_response, body):
    payload = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def harness_app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/_harness/config/evaluations":
        token = (query.get("resultToken") or [None])[0]
        with _LOCK:
            body = [r for r in RECORDED_EVALUATIONS if token is None or r["resultToken"] == token]
        return json_response(start_response, body)
    if path == "/_harness/s3/discard-public-access-block-writes":
        DISCARD_BPA_WRITES.update(query.get("bucket") or [])
        return json_response(start_response, sorted(DISCARD_BPA_WRITES))
    if path.startswith("/_harness/s3/"):
        answered = s3_harness(path, query, start_response)
        if answered is not None:
            return answered
    if path == "/_harness/securityhub/findings":
        found = []
        for account in securityhub_backends.values():
            for backend in account.values():
                found.extend(f.data for f in backend.findings)
        with _LOCK:
            updates = list(FINDING_UPDATES)
        return json_response(start_response, {"findings": found, "updates": updates})
    if path == "/_harness/securityhub/deny-updates":
        with _LOCK:
            DENIED_FINDING_UPDATES.update(query.get("id") or [])
            return json_response(start_response, sorted(DENIED_FINDING_UPDATES))
    if path == "/_harness/securityhub/v2-findings":
        with _LOCK:
            if query.get("uid"):
                key = (query["account"][0], query["uid"][0], query["product"][0])
                OCSF_FINDINGS.setdefault(key, {"status_id": 1, "comment": None})
            body = {
                "findings": [
                    {"CloudAccountUid": k[0], "FindingInfoUid": k[1], "MetadataProductUid": k[2], **v}
                    for k, v in OCSF_FINDINGS.items()
                ],
                "updates": list(OCSF_UPDATES),
            }
        return json_response(start_response, body)
    if path == "/_harness/bedrock/destinations":
        where = {k: query[k][0] for k in ("account", "region") if query.get(k)}
        return json_response(start_response, create_bedrock_destinations(query, **where))
    if path == "/_harness/kms/stale-reads":
        with _LOCK:
            STALE_KEYS.update(query.get("key") or [])
        return json_response(start_response, sorted(STALE_KEYS))
    if path == "/_harness/requests":
        with _LOCK:
            count = REQUESTS["count"]
            if query.get("reset"):
                REQUESTS["count"] = 0
        return json_response(start_response, {"count": count})
    if path == "/_harness/sns/messages":
        from moto.sns.models import sns_backends

        topic = (query.get("topic") or [""])[0]
        found = []
        for account in sns_backends.values():
            for backend in account.values():
                if topic in backend.topics:
                    found = [
                        {"subject": n[2], "message": n[1]} for n in backend.topics[topic].sent_notifications
                    ]
        return json_response(start_response, found)
    if path == "/_harness/faults" and query.get("account"):
        with _LOCK:
            FAULTS["accounts"][query["account"][0]] = float((query.get("throttle") or ["0"])[0])
        return json_response(start_response, FAULTS["accounts"])
    if path == "/_harness/sts/assumed-roles":
        from moto.sts.models import sts_backends

        found = []
        for account_id, partitions in list(sts_backends.items()):
            for backend in list(partitions.values()):
                found.extend(
                    {"account": account_id, "roleArn": r.role_arn, "sessionName": r.session_name}
                    for r in backend.assumed_roles
                )
        return json_response(start_response, found)
    if path == "/_harness/faults":
        with _LOCK:
            FAULTS["throttle"] = float((query.get("throttle") or ["0"])[0])
            FAULTS["server_error"] = float((query.get("server_error") or ["0"])[0])
            FAULTS["random"] = random.Random(int((query.get("seed") or ["0"])[0]))
        return json_response(start_response, {k: FAULTS[k] for k in ("throttle", "server_error")})
    if path == "/_harness/deny":
        rule = {k: v[0] for k, v in query.items()}
        with _LOCK:
            if rule:
                FAULTS["denied"].append(rule)
            else:
                FAULTS["denied"].clear()
        return json_response(start_response, FAULTS["denied"])
    if path == "/_harness/sagemaker/notebook-status":
        name = (query.get("name") or [""])[0]
        status = (query.get("status") or [""])[0]
        return json_response(start_response, {"updated": set_notebook_status(name, status)})
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"unknown harness path"]


# --- Fault injection -----------------------------------------------------------------------------

import random

FAULTS = {"throttle": 0.0, "server_error": 0.0, "random": random.Random(0), "denied": [], "accounts": {}}


def _signing_account(environ):
    """The account whose credentials signed the request (moto's own mapping of access keys)."""
    from moto.iam.models import get_account_id_from

    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" not in auth:
        return None
    return get_account_id_from(auth.split("Credential=", 1)[1].split("/", 1)[0])


def _protocol(environ):
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "/bedrock/" in auth:
        return "rest-json"
    return "xml"


def _error(start_response, environ, status, code, message):
    protocol = _protocol(environ)
    if protocol == "xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>harness</RequestId></Error>".encode()
        headers = [("Content-Type", "application/xml")]
    else:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    start_response(status, headers + [("Content-Length", str(len(body)))])
    return [body]


def _fault(environ, start_response):
    for rule in FAULTS["denied"]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if rule.get("target") and target.endswith("." + rule["target"]):
            return _error(start_response, environ, "400 Bad Request", "AccessDeniedException", "not authorized")
        if rule.get("method") == environ.get("REQUEST_METHOD") and rule.get("query", "\0") in environ.get("QUERY_STRING", ""):
            return _error(start_response, environ, "403 Forbidden", "AccessDenied", "Access Denied")
    with _LOCK:
        roll = FAULTS["random"].random()
        per_account = dict(FAULTS["accounts"])
    throttle = FAULTS["throttle"]
    if per_account:
        throttle = max(throttle, per_account.get(_signing_account(environ), 0.0))
    if roll < throttle:
        protocol = _protocol(environ)
        if protocol == "xml":
            return _error(start_response, environ, "503 Slow Down", "SlowDown", "Please reduce your request rate.")
        if protocol == "rest-json":
            return _error(start_response, environ, "429 Too Many Requests", "ThrottlingException", "Too many requests")
        return _error(start_response, environ, "400 Bad Request", "ThrottlingException", "Rate exceeded")
    if roll < throttle + FAULTS["server_error"]:
        return _error(start_response, environ, "500 Internal Server Error", "InternalError", "We encountered an internal error.")
    return None


REQUESTS = {"count": 0}


class App:
    def __init__(self):
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_harness/"):
            return harness_app(environ, start_response)
        with _LOCK:
            REQUESTS["count"] += 1
        faulted = _fault(environ, start_response)
        if faulted is not None:
            return faulted
        redirected = _wrong_region(environ, start_response)
        if redirected is not None:
            return redirected
        return self.moto(environ, start_response)


def exit_with_parent():
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = make_server("127.0.0.1", port, App(), threaded=True)
    threading.Thread(target=exit_with_parent, daemon=True).start()
    print(f"READY {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
