package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// metric reads a counter from coffer's metrics endpoint.
func metric(t *testing.T, url, name, labels string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/_coffer/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+"{"+labels+"} "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// TestVaultNotifications subscribes a signature-verifying HTTP receiver
// to a topic through coffer's SNS, points a vault's notifications at it,
// and checks that every job event coffer emits arrives signed, that a
// refused delivery is retried, and that a topic policy that does not
// admit Backup stops the notifications with a visible error.
func TestVaultNotifications(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	topics := sns.NewFromConfig(w.c.AWSConfig(t, w.c.Profile(t, "source")))
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	role := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", key)
	copyVault := w.src.vault(t, "copy-vault", key)
	dbARN := w.src.createDB(t, "orders-db", "alias/source-cmk", 50)
	rcv := newReceiver(t, w.c.URL+"/", false)

	topic := aws.ToString(must[*sns.CreateTopicOutput](t)(topics.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("backup-events"),
		Attributes: map[string]string{"SignatureVersion": "2"}})).TopicArn)
	if topic != "arn:aws:sns:us-east-1:"+source+":backup-events" {
		t.Fatalf("topic ARN %s", topic)
	}
	must[*sns.SetTopicAttributesOutput](t)(topics.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: aws.String(topic),
		AttributeName: aws.String("Policy"), AttributeValue: aws.String(backupTopicPolicy(topic, source, true))}))
	sub := must[*sns.SubscribeOutput](t)(topics.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String(rcv.srv.URL + "/sns")}))
	if aws.ToString(sub.SubscriptionArn) != "pending confirmation" {
		t.Errorf("Subscribe answered %q", aws.ToString(sub.SubscriptionArn))
	}
	// The receiver confirms through the SubscribeURL of the signed
	// confirmation message.
	var subARN string
	for deadline := time.Now().Add(60 * time.Second); subARN == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		list := must[*sns.ListSubscriptionsByTopicOutput](t)(topics.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)}))
		if len(list.Subscriptions) != 1 {
			t.Fatalf("subscriptions %+v", list.Subscriptions)
		}
		if a := aws.ToString(list.Subscriptions[0].SubscriptionArn); a != "PendingConfirmation" {
			subARN = a
		}
	}
	if !strings.HasPrefix(subARN, topic+":") {
		t.Fatalf("the subscription was not confirmed (%q)", subARN)
	}
	attrs := must[*sns.GetTopicAttributesOutput](t)(topics.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(topic)})).Attributes
	if attrs["SubscriptionsConfirmed"] != "1" || attrs["SubscriptionsPending"] != "0" || attrs["Owner"] != source || attrs["SignatureVersion"] != "2" {
		t.Errorf("topic attributes %v", attrs)
	}

	events := []string{"BACKUP_JOB_STARTED", "BACKUP_JOB_COMPLETED", "COPY_JOB_STARTED", "COPY_JOB_SUCCESSFUL", "COPY_JOB_FAILED",
		"RESTORE_JOB_STARTED", "RESTORE_JOB_COMPLETED", "RECOVERY_POINT_MODIFIED"}
	var evs []backuptypes.BackupVaultEvent
	for _, e := range events {
		evs = append(evs, backuptypes.BackupVaultEvent(e))
	}
	must[*backup.PutBackupVaultNotificationsOutput](t)(w.src.Backup.PutBackupVaultNotifications(ctx, &backup.PutBackupVaultNotificationsInput{
		BackupVaultName: aws.String("source-vault"), SNSTopicArn: aws.String(topic), BackupVaultEvents: evs}))
	got := must[*backup.GetBackupVaultNotificationsOutput](t)(w.src.Backup.GetBackupVaultNotifications(ctx, &backup.GetBackupVaultNotificationsInput{BackupVaultName: aws.String("source-vault")}))
	if aws.ToString(got.SNSTopicArn) != topic || len(got.BackupVaultEvents) != len(events) || aws.ToString(got.BackupVaultName) != "source-vault" {
		t.Errorf("GetBackupVaultNotifications = %+v", got)
	}

	// Backup: started and completed, then a failed one (COMPLETED
	// stands for every outcome, with the State attribute saying which).
	job := w.src.backupJob(t, "source-vault", dbARN, role)
	if job.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup job %s: %s", job.State, aws.ToString(job.StatusMessage))
	}
	id := aws.ToString(job.BackupJobId)
	rcv.wait(t, "BACKUP_JOB started", event("BACKUP_JOB", "RUNNING", id))
	done := rcv.wait(t, "BACKUP_JOB completed", event("BACKUP_JOB", "COMPLETED", id))
	rp := aws.ToString(job.RecoveryPointArn)
	if done.Subject != "Notification from AWS Backup" || !strings.Contains(done.Message, "An AWS Backup job was completed successfully. Recovery point ARN: "+rp) ||
		done.TopicArn != topic || done.SignatureVersion != "2" || done.MessageAttributes["AccountId"].Value != source {
		t.Errorf("completed notification %+v", done)
	}
	if !strings.Contains(done.UnsubscribeURL, "SubscriptionArn=") {
		t.Errorf("UnsubscribeURL %q", done.UnsubscribeURL)
	}
	bad := w.src.backupJob(t, "source-vault", "arn:aws:rds:us-east-1:111222333444:db:no-such-db", role)
	failed := rcv.wait(t, "BACKUP_JOB failed", event("BACKUP_JOB", "FAILED", aws.ToString(bad.BackupJobId)))
	if !strings.Contains(failed.Message, aws.ToString(bad.StatusMessage)) {
		t.Errorf("failed notification %q lacks the status message %q", failed.Message, aws.ToString(bad.StatusMessage))
	}

	// Copy: successful into another vault of the account; failed into
	// the backup account's vault without cross-account backup enabled.
	cj := w.src.copyJob(t, rp, "source-vault", copyVault, role)
	if cj.State != backuptypes.CopyJobStateCompleted {
		t.Fatalf("copy job %s: %s", cj.State, aws.ToString(cj.StatusMessage))
	}
	rcv.wait(t, "COPY_JOB started", event("COPY_JOB", "RUNNING", aws.ToString(cj.CopyJobId)))
	rcv.wait(t, "COPY_JOB successful", event("COPY_JOB", "COMPLETED", aws.ToString(cj.CopyJobId)))
	dstKey := w.dst.createKey(t, "backup-cmk", sharedKeyPolicy(backupAcct))
	dstVault := w.dst.vault(t, "backup-vault", dstKey)
	cf := w.src.copyJob(t, rp, "source-vault", dstVault, role)
	if cf.State != backuptypes.CopyJobStateFailed {
		t.Fatalf("cross-account copy without the settings ended %s", cf.State)
	}
	rcv.wait(t, "COPY_JOB failed", event("COPY_JOB", "FAILED", aws.ToString(cf.CopyJobId)))

	// Restore, started and completed.
	rj := w.src.restoreJob(t, rp, role, map[string]string{"DBInstanceIdentifier": "orders-restored", "KmsKeyId": key})
	if rj.Status != backuptypes.RestoreJobStatusCompleted {
		t.Fatalf("restore job %s: %s", rj.Status, aws.ToString(rj.StatusMessage))
	}
	rcv.wait(t, "RESTORE_JOB started", event("RESTORE_JOB", "RUNNING", aws.ToString(rj.RestoreJobId)))
	rcv.wait(t, "RESTORE_JOB completed", event("RESTORE_JOB", "COMPLETED", aws.ToString(rj.RestoreJobId)))
	// A restore under another account's key, not shared, fails.
	rf := w.src.restoreJob(t, rp, role, map[string]string{"DBInstanceIdentifier": "orders-stolen", "KmsKeyId": dstKey})
	if rf.Status != backuptypes.RestoreJobStatusFailed {
		t.Fatalf("restore under another account's key ended %s", rf.Status)
	}
	rcv.wait(t, "RESTORE_JOB failed", event("RESTORE_JOB", "FAILED", aws.ToString(rf.RestoreJobId)))

	// A recovery point's lifecycle changes; the receiver refuses the
	// first delivery, which the queue retries.
	rcv.mu.Lock()
	rcv.failNext = 1
	rcv.mu.Unlock()
	retriedBefore := metric(t, w.c.URL, "coffer_sns_deliveries_total", `result="retried"`)
	must[*backup.UpdateRecoveryPointLifecycleOutput](t)(w.src.Backup.UpdateRecoveryPointLifecycle(ctx, &backup.UpdateRecoveryPointLifecycleInput{
		BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(rp), Lifecycle: &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(400)}}))
	rcv.wait(t, "RECOVERY_POINT_MODIFIED", event("RECOVERY_POINT", "MODIFIED", rp))
	if rcv.failed != 1 {
		t.Errorf("the receiver refused %d deliveries, want 1", rcv.failed)
	}
	if after := metric(t, w.c.URL, "coffer_sns_deliveries_total", `result="retried"`); after != retriedBefore+1 {
		t.Errorf("coffer_sns_deliveries_total{result=retried} went from %v to %v, want one more", retriedBefore, after)
	}

	// A message published by the topic's owner, with a subject and an
	// attribute, arrives signed; a tampered copy does not verify.
	pub := must[*sns.PublishOutput](t)(topics.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Subject: aws.String("drill"), Message: aws.String("restore drill at 10:00"),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{"team": {DataType: aws.String("String"), StringValue: aws.String("dba")}}}))
	drill := rcv.wait(t, "published", func(m snsMessage) bool { return m.MessageId == aws.ToString(pub.MessageId) })
	if drill.Subject != "drill" || drill.Message != "restore drill at 10:00" || drill.MessageAttributes["team"].Value != "dba" {
		t.Errorf("published message %+v", drill)
	}
	drill.Message = "restore drill at 11:00"
	if err := verifySNS(&drill, w.c.URL+"/", http.DefaultClient); err == nil {
		t.Error("a tampered message verifies")
	}

	// A topic policy that no longer admits backup.amazonaws.com stops
	// the notifications: the publish is denied and counted, nothing is
	// delivered, and the job itself is not affected.
	must[*sns.SetTopicAttributesOutput](t)(topics.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: aws.String(topic),
		AttributeName: aws.String("Policy"), AttributeValue: aws.String(backupTopicPolicy(topic, source, false))}))
	deniedBefore := metric(t, w.c.URL, "coffer_sns_publishes_total", `result="denied"`)
	before := rcv.count()
	job2 := w.src.backupJob(t, "source-vault", dbARN, role)
	if job2.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup job with a closed topic %s: %s", job2.State, aws.ToString(job2.StatusMessage))
	}
	for deadline := time.Now().Add(60 * time.Second); metric(t, w.c.URL, "coffer_sns_publishes_total", `result="denied"`) < deniedBefore+2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("coffer_sns_publishes_total{result=denied} stayed at %v; want the started and completed notifications denied", metric(t, w.c.URL, "coffer_sns_publishes_total", `result="denied"`))
		}
	}
	// Deliveries are queued in the publish's transaction, so a denied
	// publish has none in flight: a later one from the owner arrives
	// alone.
	last := must[*sns.PublishOutput](t)(topics.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("after the policy change")}))
	rcv.wait(t, "owner's publish after the policy change", func(m snsMessage) bool { return m.MessageId == aws.ToString(last.MessageId) })
	if n := rcv.count(); n != before+1 {
		t.Errorf("%d notifications arrived after the policy stopped admitting Backup, want only the owner's", n-before-1)
	}

	// The AWS CLI v2 reads the subscription list.
	t.Run("cli", func(t *testing.T) {
		cli := testenv.AWSCLIv2(t)
		cmd := exec.Command(cli, "--endpoint-url", w.c.URL, "--output", "json", "sns", "list-subscriptions-by-topic", "--topic-arn", topic)
		cmd.Env = w.c.CLIEnv("source")
		raw, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws sns list-subscriptions-by-topic: %v\n%s", err, raw)
		}
		var out struct {
			Subscriptions []struct{ SubscriptionArn, Protocol, Endpoint string }
		}
		if err := json.Unmarshal(raw, &out); err != nil || len(out.Subscriptions) != 1 || out.Subscriptions[0].SubscriptionArn != subARN {
			t.Errorf("CLI subscriptions = %s (%v)", raw, err)
		}
	})

	// Another account may not publish to the topic, nor configure its
	// vault to a topic of another account.
	others := sns.NewFromConfig(w.c.AWSConfig(t, w.c.Profile(t, "backup")))
	if _, err := others.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("x")}); errCode(err) != "AuthorizationError" {
		t.Errorf("another account publishing: %v", err)
	}
	_, err := w.dst.Backup.PutBackupVaultNotifications(ctx, &backup.PutBackupVaultNotificationsInput{BackupVaultName: aws.String("backup-vault"),
		SNSTopicArn: aws.String(topic), BackupVaultEvents: evs})
	if errCode(err) != "InvalidParameterValueException" {
		t.Errorf("notifications to another account's topic: %v", err)
	}
	_, err = w.src.Backup.PutBackupVaultNotifications(ctx, &backup.PutBackupVaultNotificationsInput{BackupVaultName: aws.String("source-vault"),
		SNSTopicArn: aws.String(topic), BackupVaultEvents: []backuptypes.BackupVaultEvent{"BACKUP_JOB_EXPLODED"}})
	if errCode(err) != "InvalidParameterValueException" {
		t.Errorf("an unknown event: %v", err)
	}

	// A subscriber may confirm with the token through the API instead,
	// and leave through the UnsubscribeURL of a message.
	manual := newReceiver(t, w.c.URL+"/", true)
	must[*sns.SubscribeOutput](t)(topics.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String(manual.srv.URL + "/manual")}))
	var token string
	for deadline := time.Now().Add(60 * time.Second); token == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		manual.mu.Lock()
		if len(manual.confirmations) > 0 {
			token = manual.confirmations[0].Token
		}
		manual.mu.Unlock()
	}
	if token == "" {
		t.Fatal("the second subscriber got no confirmation")
	}
	if _, err := topics.ConfirmSubscription(ctx, &sns.ConfirmSubscriptionInput{TopicArn: aws.String(topic), Token: aws.String("not-the-token")}); errCode(err) != "InvalidParameter" {
		t.Errorf("confirming with a wrong token: %v", err)
	}
	manualARN := aws.ToString(must[*sns.ConfirmSubscriptionOutput](t)(topics.ConfirmSubscription(ctx, &sns.ConfirmSubscriptionInput{TopicArn: aws.String(topic), Token: aws.String(token)})).SubscriptionArn)
	hello := must[*sns.PublishOutput](t)(topics.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("hello second subscriber")}))
	m := manual.wait(t, "to the API-confirmed subscriber", func(m snsMessage) bool { return m.MessageId == aws.ToString(hello.MessageId) })
	resp, err := http.Get(m.UnsubscribeURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("UnsubscribeURL answered %d", resp.StatusCode)
	}
	for _, s := range must[*sns.ListSubscriptionsByTopicOutput](t)(topics.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})).Subscriptions {
		if aws.ToString(s.SubscriptionArn) == manualARN {
			t.Errorf("%s is still subscribed after its UnsubscribeURL", manualARN)
		}
	}

	// Unsubscribe: the endpoint gets a signed UnsubscribeConfirmation
	// whose SubscribeURL restores the subscription, as in SNS.
	must[*sns.UnsubscribeOutput](t)(topics.Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: aws.String(subARN)}))
	bye := rcv.waitUnsubscribed(t, subARN)
	if bye.TopicArn != topic || len(bye.Token) != 64 || !strings.Contains(bye.SubscribeURL, "Action=ConfirmSubscription") || bye.SignatureVersion != "2" {
		t.Errorf("UnsubscribeConfirmation %+v", bye)
	}
	// Deleted: this one and the second subscriber's, which left through
	// its UnsubscribeURL.
	if a := must[*sns.GetTopicAttributesOutput](t)(topics.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(topic)})).Attributes; a["SubscriptionsDeleted"] != "2" || a["SubscriptionsConfirmed"] != "0" {
		t.Errorf("topic attributes after Unsubscribe: %v", a)
	}
	resp, err = http.Get(bye.SubscribeURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the UnsubscribeConfirmation's SubscribeURL answered %d", resp.StatusCode)
	}
	if l := must[*sns.ListSubscriptionsByTopicOutput](t)(topics.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})); len(l.Subscriptions) != 1 || aws.ToString(l.Subscriptions[0].SubscriptionArn) != subARN {
		t.Errorf("subscriptions after the SubscribeURL restored %s: %+v", subARN, l.Subscriptions)
	}
	back := must[*sns.PublishOutput](t)(topics.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("welcome back")}))
	rcv.wait(t, "to the restored subscription", func(m snsMessage) bool { return m.MessageId == aws.ToString(back.MessageId) })

	// Unsubscribe for good, turn the notifications off, delete the topic.
	must[*sns.UnsubscribeOutput](t)(topics.Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: aws.String(subARN)}))
	if l := must[*sns.ListSubscriptionsByTopicOutput](t)(topics.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})); len(l.Subscriptions) != 0 {
		t.Errorf("subscriptions after Unsubscribe: %+v", l.Subscriptions)
	}
	must[*backup.DeleteBackupVaultNotificationsOutput](t)(w.src.Backup.DeleteBackupVaultNotifications(ctx, &backup.DeleteBackupVaultNotificationsInput{BackupVaultName: aws.String("source-vault")}))
	if _, err := w.src.Backup.GetBackupVaultNotifications(ctx, &backup.GetBackupVaultNotificationsInput{BackupVaultName: aws.String("source-vault")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("notifications after delete: %v", err)
	}
	must[*sns.DeleteTopicOutput](t)(topics.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(topic)}))
	if _, err := topics.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(topic)}); errCode(err) != "NotFound" {
		t.Errorf("deleted topic: %v", err)
	}
	if l := must[*sns.ListTopicsOutput](t)(topics.ListTopics(ctx, &sns.ListTopicsInput{})); len(l.Topics) != 0 {
		t.Errorf("topics after delete: %+v", l.Topics)
	}
}

// TestExpiredWindowNotifications: with only BACKUP_JOB_EXPIRED in the
// vault's configuration, the windows a plan missed while no node ran
// are announced, each with State EXPIRED, and the window that runs is
// not.
func TestExpiredWindowNotifications(t *testing.T) {
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Hour).Add(time.Minute)
	clock := &fakeClock{t: start}
	n := startNode(t, clockedConfig(t, t.TempDir(), ""), clock)
	src := n.clients(t, source, "source", "")
	topics := sns.NewFromConfig(n.c.AWSConfig(t, n.c.Profile(t, "source")))
	key := src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	dbARN := src.createDB(t, "orders-db", "alias/source-cmk", 10)
	must[*rds.AddTagsToResourceOutput](t)(src.RDS.AddTagsToResource(ctx, &rds.AddTagsToResourceInput{ResourceName: aws.String(dbARN), Tags: []rdstypes.Tag{{Key: aws.String("backup"), Value: aws.String("hourly")}}}))
	role := src.backupRole(t, "backup-role")
	src.vault(t, "source-vault", key)
	hourlyPlan(t, src, "", role, dbARN)

	rcv := newReceiver(t, n.c.URL+"/", false)
	topic := rcv.subscribe(t, topics, "missed", source)
	must[*backup.PutBackupVaultNotificationsOutput](t)(src.Backup.PutBackupVaultNotifications(ctx, &backup.PutBackupVaultNotificationsInput{
		BackupVaultName: aws.String("source-vault"), SNSTopicArn: aws.String(topic), BackupVaultEvents: []backuptypes.BackupVaultEvent{backuptypes.BackupVaultEventBackupJobExpired}}))

	clock.Set(start.Add(5 * time.Hour))
	res, err := n.app.Plans().Tick(ctx)
	if err != nil || len(res.Errors) > 0 || res.Expired != 4 || res.Started != 1 {
		t.Fatalf("tick after 5 hours: %+v %v", res, err)
	}
	waitJobs(t, src, 5, 0)
	var expired []string
	for _, j := range allBackupJobs(t, src) {
		if j.State == backuptypes.BackupJobStateExpired {
			expired = append(expired, aws.ToString(j.BackupJobId))
		}
	}
	for _, id := range expired {
		m := rcv.wait(t, "BACKUP_JOB expired", event("BACKUP_JOB", "EXPIRED", id))
		if !strings.Contains(m.Message, "no coffer node was running") {
			t.Errorf("expired notification %q lacks the reason", m.Message)
		}
	}
	// The run that completed was not announced: only EXPIRED is asked
	// for. A notification of it would be queued moments after the job
	// was seen COMPLETED, ahead of the owner's message published after
	// the checks above, so it would be counted here (this check can miss
	// it only if the worker stalled in that moment; it cannot fail
	// wrongly).
	last := must[*sns.PublishOutput](t)(topics.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("end")}))
	rcv.wait(t, "the owner's last message", func(m snsMessage) bool { return m.MessageId == aws.ToString(last.MessageId) })
	if got := rcv.count(); got != len(expired)+1 {
		t.Errorf("%d notifications, want the %d expired windows and the owner's", got, len(expired))
	}
}

// TestPlanNotifications: creating a backup plan and updating it announce
// BACKUP_PLAN_CREATED and BACKUP_PLAN_MODIFIED, signed, to the vault its
// rules target, once each even when two rules target it; a vault no
// rule targets hears nothing.
func TestPlanNotifications(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	topics := sns.NewFromConfig(w.c.AWSConfig(t, w.c.Profile(t, "source")))
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	w.src.vault(t, "source-vault", key)
	w.src.vault(t, "other-vault", key)
	rcv := newReceiver(t, w.c.URL+"/", false)
	topic := rcv.subscribe(t, topics, "plan-events", source)
	planEvents := []backuptypes.BackupVaultEvent{backuptypes.BackupVaultEventBackupPlanCreated, backuptypes.BackupVaultEventBackupPlanModified}
	for _, v := range []string{"source-vault", "other-vault"} {
		must[*backup.PutBackupVaultNotificationsOutput](t)(w.src.Backup.PutBackupVaultNotifications(ctx, &backup.PutBackupVaultNotificationsInput{
			BackupVaultName: aws.String(v), SNSTopicArn: aws.String(topic), BackupVaultEvents: planEvents}))
	}
	rule := func(name string) backuptypes.BackupRuleInput {
		return backuptypes.BackupRuleInput{RuleName: aws.String(name), TargetBackupVaultName: aws.String("source-vault"), ScheduleExpression: aws.String("cron(0 5 ? * * *)")}
	}
	plan := must[*backup.CreateBackupPlanOutput](t)(w.src.Backup.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: &backuptypes.BackupPlanInput{
		BackupPlanName: aws.String("daily"), Rules: []backuptypes.BackupRuleInput{rule("morning"), rule("again")}}}))
	planARN := aws.ToString(plan.BackupPlanArn)
	created := rcv.wait(t, "BACKUP_PLAN created", event("BACKUP_PLAN", "CREATED", planARN))
	if created.Subject != "Notification from AWS Backup" || !strings.Contains(created.Message, "An AWS Backup plan was created. Backup plan ARN: "+planARN+". Version ID : "+aws.ToString(plan.VersionId)) ||
		created.MessageAttributes["AccountId"].Value != source || created.TopicArn != topic {
		t.Errorf("created notification %+v", created)
	}
	upd := must[*backup.UpdateBackupPlanOutput](t)(w.src.Backup.UpdateBackupPlan(ctx, &backup.UpdateBackupPlanInput{BackupPlanId: plan.BackupPlanId,
		BackupPlan: &backuptypes.BackupPlanInput{BackupPlanName: aws.String("daily"), Rules: []backuptypes.BackupRuleInput{rule("morning")}}}))
	modified := rcv.wait(t, "BACKUP_PLAN modified", event("BACKUP_PLAN", "MODIFIED", planARN))
	if !strings.Contains(modified.Message, "An AWS Backup plan was modified. Backup plan ARN: "+planARN+". Version ID : "+aws.ToString(upd.VersionId)) {
		t.Errorf("modified notification %+v", modified)
	}
	// An update that fails validation changes nothing and announces
	// nothing; the owner's message published after it arrives as the
	// only other one.
	if _, err := w.src.Backup.UpdateBackupPlan(ctx, &backup.UpdateBackupPlanInput{BackupPlanId: plan.BackupPlanId,
		BackupPlan: &backuptypes.BackupPlanInput{BackupPlanName: aws.String("daily"), Rules: []backuptypes.BackupRuleInput{{RuleName: aws.String("x"), TargetBackupVaultName: aws.String("no-such-vault")}}}}); err == nil {
		t.Fatal("an update naming a missing vault succeeded")
	}
	last := must[*sns.PublishOutput](t)(topics.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("end")}))
	rcv.wait(t, "the owner's last message", func(m snsMessage) bool { return m.MessageId == aws.ToString(last.MessageId) })
	if n := rcv.count(); n != 3 {
		t.Errorf("%d notifications, want created, modified and the owner's (one per plan event, none for other-vault)", n)
	}
}
