#!/usr/bin/env python3
"""boto3-backup.py drives coffer's restore testing, audit frameworks and
reports, vault notifications with SNS, and job summaries through boto3,
the way a Python user's code would, and checks what coffer answers.

Each subcommand asserts the answers it can judge by itself, exits
non-zero on the first wrong one, and prints a JSON document of what it
saw for the caller (internal/e2e's TestBoto3) to compare with coffer's
state as another client sees it. Credentials come from the usual
AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE and AWS_PROFILE.

  boto3-backup.py --endpoint URL restore-testing --role ARN --vault-arn ARN --resource-arn ARN --recovery-point ARN
  boto3-backup.py --endpoint URL audit --bucket NAME --s3-endpoint URL --s3-access-key K --s3-secret-key S
  boto3-backup.py --endpoint URL notifications-on --vault NAME --account ID --receiver URL
  boto3-backup.py --endpoint URL notifications-off --vault NAME --topic ARN --subscription ARN
  boto3-backup.py --endpoint URL summaries
"""
import argparse
import datetime
import json
import sys
import time

import boto3
import botocore.config
import botocore.exceptions


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def error_code(call, *args, **kwargs):
    """Calls and returns the error code of the ClientError it raises."""
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} succeeded; an error was expected")


def wait(what, probe, timeout=60):
    """Polls probe until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def restore_testing(backup, a):
    plan_name, sel_name = "boto3_daily", "boto3_gold"
    created = backup.create_restore_testing_plan(
        RestoreTestingPlan={
            "RestoreTestingPlanName": plan_name,
            "ScheduleExpression": "cron(0 5 ? * * *)",
            "StartWindowHours": 2,
            "RecoveryPointSelection": {
                "Algorithm": "LATEST_WITHIN_WINDOW",
                "IncludeVaults": [a.vault_arn],
                "RecoveryPointTypes": ["SNAPSHOT"],
                "SelectionWindowDays": 7,
            },
        },
        Tags={"team": "dba"},
    )
    plan_arn = created["RestoreTestingPlanArn"]
    check(":restore-testing-plan:" + plan_name + "-" in plan_arn, f"plan ARN {plan_arn}")
    check(isinstance(created["CreationTime"], datetime.datetime), f"CreationTime {created['CreationTime']!r}")
    check(error_code(backup.create_restore_testing_plan, RestoreTestingPlan={
        "RestoreTestingPlanName": plan_name, "ScheduleExpression": "cron(0 5 ? * * *)",
        "RecoveryPointSelection": {"Algorithm": "LATEST_WITHIN_WINDOW", "IncludeVaults": ["*"], "RecoveryPointTypes": ["SNAPSHOT"]}}) == "AlreadyExistsException",
        "a second plan of the same name")

    plan = backup.get_restore_testing_plan(RestoreTestingPlanName=plan_name)["RestoreTestingPlan"]
    check(plan["RestoreTestingPlanArn"] == plan_arn and plan["StartWindowHours"] == 2 and plan["ScheduleExpression"] == "cron(0 5 ? * * *)"
          and plan["RecoveryPointSelection"]["IncludeVaults"] == [a.vault_arn], f"plan {plan}")
    backup.update_restore_testing_plan(RestoreTestingPlanName=plan_name,
                                       RestoreTestingPlan={"ScheduleExpression": "cron(0 6 ? * * *)", "StartWindowHours": 3})
    plan = backup.get_restore_testing_plan(RestoreTestingPlanName=plan_name)["RestoreTestingPlan"]
    check(plan["ScheduleExpression"] == "cron(0 6 ? * * *)" and plan["StartWindowHours"] == 3 and plan["LastUpdateTime"] >= plan["CreationTime"], f"updated plan {plan}")
    plans = backup.list_restore_testing_plans()["RestoreTestingPlans"]
    check([p["RestoreTestingPlanName"] for p in plans] == [plan_name], f"plans {plans}")
    tags = backup.list_tags(ResourceArn=plan_arn)["Tags"]
    check(tags == {"team": "dba"}, f"plan tags {tags}")

    backup.create_restore_testing_selection(
        RestoreTestingPlanName=plan_name,
        RestoreTestingSelection={
            "RestoreTestingSelectionName": sel_name,
            "IamRoleArn": a.role,
            "ProtectedResourceType": "RDS",
            "ProtectedResourceArns": [a.resource_arn],
            "RestoreMetadataOverrides": {"ValidationQuery": "SELECT COUNT(*) > 0 FROM orders"},
            "ValidationWindowHours": 2,
        },
    )
    sel = backup.get_restore_testing_selection(RestoreTestingPlanName=plan_name, RestoreTestingSelectionName=sel_name)["RestoreTestingSelection"]
    check(sel["IamRoleArn"] == a.role and sel["ProtectedResourceArns"] == [a.resource_arn] and sel["ValidationWindowHours"] == 2
          and sel["RestoreMetadataOverrides"] == {"ValidationQuery": "SELECT COUNT(*) > 0 FROM orders"}, f"selection {sel}")
    backup.update_restore_testing_selection(RestoreTestingPlanName=plan_name, RestoreTestingSelectionName=sel_name,
                                            RestoreTestingSelection={"ValidationWindowHours": 4})
    sels = backup.list_restore_testing_selections(RestoreTestingPlanName=plan_name)["RestoreTestingSelections"]
    check(len(sels) == 1 and sels[0]["RestoreTestingSelectionName"] == sel_name and sels[0]["ValidationWindowHours"] == 4, f"selections {sels}")

    inferred = backup.get_restore_testing_inferred_metadata(BackupVaultName=a.vault_arn.rsplit(":", 1)[1],
                                                           RecoveryPointArn=a.recovery_point)["InferredMetadata"]

    code = error_code(backup.delete_restore_testing_plan, RestoreTestingPlanName=plan_name)
    check(code == "InvalidRequestException", f"deleting a plan with a selection: {code}")
    backup.delete_restore_testing_selection(RestoreTestingPlanName=plan_name, RestoreTestingSelectionName=sel_name)
    backup.delete_restore_testing_plan(RestoreTestingPlanName=plan_name)
    code = error_code(backup.get_restore_testing_plan, RestoreTestingPlanName=plan_name)
    check(code == "ResourceNotFoundException", f"the deleted plan: {code}")
    return {"PlanArn": plan_arn, "InferredMetadata": inferred}


def audit(backup, a):
    controls = [
        {"ControlName": "BACKUP_RECOVERY_POINT_ENCRYPTED"},
        {"ControlName": "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN"},
    ]
    fw = backup.create_framework(FrameworkName="boto3_controls", FrameworkDescription="checked from Python",
                                 FrameworkControls=controls, IdempotencyToken="boto3-framework-1")
    again = backup.create_framework(FrameworkName="boto3_controls", FrameworkControls=controls, IdempotencyToken="boto3-framework-1")
    check(again["FrameworkArn"] == fw["FrameworkArn"], f"the idempotent repeat made {again['FrameworkArn']}, not {fw['FrameworkArn']}")
    d = backup.describe_framework(FrameworkName="boto3_controls")
    check(d["FrameworkArn"] == fw["FrameworkArn"] and d["FrameworkStatus"] == "ACTIVE" and len(d["FrameworkControls"]) == 2, f"framework {d}")
    backup.update_framework(FrameworkName="boto3_controls", FrameworkControls=controls + [{
        "ControlName": "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK",
        "ControlInputParameters": [{"ParameterName": "requiredRetentionDays", "ParameterValue": "1"}]}])
    listed = backup.list_frameworks()["Frameworks"]
    check([(f["FrameworkName"], f["NumberOfControls"]) for f in listed] == [("boto3_controls", 3)], f"frameworks {listed}")

    s3 = boto3.client("s3", endpoint_url=a.s3_endpoint, region_name=a.s3_region, aws_access_key_id=a.s3_access_key,
                      aws_secret_access_key=a.s3_secret_key, config=botocore.config.Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket=a.bucket)
    backup.create_report_plan(
        ReportPlanName="boto3_report",
        ReportDeliveryChannel={"S3BucketName": a.bucket, "S3KeyPrefix": "boto3", "Formats": ["JSON", "CSV"]},
        ReportSetting={"ReportTemplate": "CONTROL_COMPLIANCE_REPORT", "FrameworkArns": [fw["FrameworkArn"]]},
    )
    rp = backup.describe_report_plan(ReportPlanName="boto3_report")["ReportPlan"]
    check(rp["ReportSetting"]["ReportTemplate"] == "CONTROL_COMPLIANCE_REPORT" and rp["ReportDeliveryChannel"]["S3BucketName"] == a.bucket, f"report plan {rp}")
    check([p["ReportPlanName"] for p in backup.list_report_plans()["ReportPlans"]] == ["boto3_report"], "list_report_plans")

    job_id = backup.start_report_job(ReportPlanName="boto3_report", IdempotencyToken="boto3-report-1")["ReportJobId"]

    def finished():
        j = backup.describe_report_job(ReportJobId=job_id)["ReportJob"]
        return j if j["Status"] in ("COMPLETED", "FAILED") else None

    job = wait("the report job", finished)
    check(job["Status"] == "COMPLETED", f"report job {job}")
    check(job_id in [j["ReportJobId"] for j in backup.list_report_jobs(ByReportPlanName="boto3_report")["ReportJobs"]], "list_report_jobs")
    keys = job["ReportDestination"]["S3Keys"]
    check(len(keys) == 2 and all(k.startswith("boto3/Backup/") for k in keys), f"report keys {keys}")

    report = json.loads(s3.get_object(Bucket=a.bucket, Key=next(k for k in keys if k.endswith(".json")))["Body"].read())
    csv = s3.get_object(Bucket=a.bucket, Key=next(k for k in keys if k.endswith(".csv")))["Body"].read().decode()
    statuses = {it["controlName"]: it["controlComplianceStatus"] for it in report["reportItems"]}
    check(len(csv.strip().splitlines()) == 1 + len(statuses), f"CSV report of {len(statuses)} controls:\n{csv}")

    backup.delete_report_plan(ReportPlanName="boto3_report")
    backup.delete_framework(FrameworkName="boto3_controls")
    check(error_code(backup.describe_framework, FrameworkName="boto3_controls") == "ResourceNotFoundException", "the deleted framework")
    return {"FrameworkArn": fw["FrameworkArn"], "ReportJobId": job_id, "Controls": statuses}


def notifications_on(backup, sns, a):
    topic = sns.create_topic(Name="boto3-events", Attributes={"SignatureVersion": "2"})["TopicArn"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{a.account}:root"}, "Action": "SNS:*", "Resource": topic},
        {"Sid": "backup", "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "SNS:Publish", "Resource": topic,
         "Condition": {"StringEquals": {"aws:SourceAccount": a.account}}}]}
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))
    check(topic in [t["TopicArn"] for t in sns.list_topics()["Topics"]], "list_topics lacks the topic")
    sub = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=a.receiver)
    check(sub["SubscriptionArn"] == "pending confirmation", f"subscribe answered {sub}")

    def confirmed():
        subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        check(len(subs) == 1 and subs[0]["Endpoint"] == a.receiver and subs[0]["Protocol"] == "http", f"subscriptions {subs}")
        return subs[0]["SubscriptionArn"] if subs[0]["SubscriptionArn"] != "PendingConfirmation" else None

    sub_arn = wait("the receiver to confirm", confirmed)
    attrs = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    check(attrs["SubscriptionsConfirmed"] == "1" and attrs["Owner"] == a.account, f"topic attributes {attrs}")

    events = ["BACKUP_JOB_COMPLETED", "RESTORE_JOB_COMPLETED"]
    backup.put_backup_vault_notifications(BackupVaultName=a.vault, SNSTopicArn=topic, BackupVaultEvents=events)
    got = backup.get_backup_vault_notifications(BackupVaultName=a.vault)
    check(got["SNSTopicArn"] == topic and got["BackupVaultName"] == a.vault and sorted(got["BackupVaultEvents"]) == events, f"notifications {got}")
    code = error_code(backup.put_backup_vault_notifications, BackupVaultName=a.vault, SNSTopicArn=topic, BackupVaultEvents=["BACKUP_JOB_EXPLODED"])
    check(code == "InvalidParameterValueException", f"an unknown event: {code}")
    return {"TopicArn": topic, "SubscriptionArn": sub_arn}


def notifications_off(backup, sns, a):
    backup.delete_backup_vault_notifications(BackupVaultName=a.vault)
    code = error_code(backup.get_backup_vault_notifications, BackupVaultName=a.vault)
    check(code == "ResourceNotFoundException", f"notifications after delete: {code}")
    sns.unsubscribe(SubscriptionArn=a.subscription)
    check(sns.list_subscriptions_by_topic(TopicArn=a.topic)["Subscriptions"] == [], "subscriptions after unsubscribe")
    sns.delete_topic(TopicArn=a.topic)
    check(sns.list_topics()["Topics"] == [], "topics after delete_topic")
    return {}


def summaries(backup, a):
    def counts(items):
        return {s["State"]: s["Count"] for s in items}

    out = {
        "Backup": counts(backup.list_backup_job_summaries(AggregationPeriod="SEVEN_DAYS")["BackupJobSummaries"]),
        "Copy": counts(backup.list_copy_job_summaries(AggregationPeriod="SEVEN_DAYS")["CopyJobSummaries"]),
        "Restore": counts(backup.list_restore_job_summaries(AggregationPeriod="SEVEN_DAYS")["RestoreJobSummaries"]),
    }
    daily = backup.list_backup_job_summaries()
    check(daily["AggregationPeriod"] == "ONE_DAY", f"default aggregation period {daily.get('AggregationPeriod')}")
    for s in daily["BackupJobSummaries"]:
        check(s["ResourceType"] == "RDS" and s["StartTime"] <= s["EndTime"] and s["EndTime"] - s["StartTime"] <= datetime.timedelta(days=1), f"daily summary {s}")
    total = backup.list_backup_job_summaries(AggregationPeriod="SEVEN_DAYS", State="AGGREGATE_ALL")["BackupJobSummaries"]
    check(len(total) == 1 and total[0]["Count"] == sum(out["Backup"].values()), f"AGGREGATE_ALL {total} against {out['Backup']}")
    code = error_code(backup.list_backup_job_summaries, State="SLEEPING")
    check(code == "InvalidParameterValueException", f"an unknown state: {code}")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--region", default="us-east-1")
    sub = p.add_subparsers(dest="command", required=True)
    rt = sub.add_parser("restore-testing")
    for f in ("--role", "--vault-arn", "--resource-arn", "--recovery-point"):
        rt.add_argument(f, required=True)
    au = sub.add_parser("audit")
    for f in ("--bucket", "--s3-endpoint", "--s3-access-key", "--s3-secret-key"):
        au.add_argument(f, required=True)
    au.add_argument("--s3-region", default="us-east-1")
    on = sub.add_parser("notifications-on")
    for f in ("--vault", "--account", "--receiver"):
        on.add_argument(f, required=True)
    off = sub.add_parser("notifications-off")
    for f in ("--vault", "--topic", "--subscription"):
        off.add_argument(f, required=True)
    sub.add_parser("summaries")
    a = p.parse_args()

    session = boto3.session.Session(region_name=a.region)
    backup = session.client("backup", endpoint_url=a.endpoint)
    sns = session.client("sns", endpoint_url=a.endpoint)
    result = {
        "restore-testing": lambda: restore_testing(backup, a),
        "audit": lambda: audit(backup, a),
        "notifications-on": lambda: notifications_on(backup, sns, a),
        "notifications-off": lambda: notifications_off(backup, sns, a),
        "summaries": lambda: summaries(backup, a),
    }[a.command]()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"boto3-backup.py: {e}", file=sys.stderr)
        sys.exit(1)
