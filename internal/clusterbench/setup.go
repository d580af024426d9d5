package clusterbench

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/coffer-dev/coffer/internal/demo"
	"github.com/coffer-dev/coffer/internal/scenario"
)

// clients are the source account's clients of one node. They make one
// attempt per call (no SDK retries), so every error is counted as the
// node answered it.
type clients struct {
	backup *backup.Client
	kms    *kms.Client
	rds    *rds.Client
	// account drives the set-up, with the SDK's retries.
	account *scenario.Account
}

func (b *bench) newClients(ctx context.Context, n *node) error {
	once, err := n.n.AWSConfig(ctx, "source", awsconfig.WithRetryMaxAttempts(1))
	if err != nil {
		return err
	}
	retrying, err := n.n.AWSConfig(ctx, "source")
	if err != nil {
		return err
	}
	n.clients = &clients{backup: backup.NewFromConfig(once), kms: kms.NewFromConfig(once), rds: rds.NewFromConfig(once),
		account: scenario.NewAccount(demo.Source, retrying)}
	return nil
}

// fixtures are what the load works on, made through the API at set-up.
type fixtures struct {
	key, vault, role string
	instances        []*scenario.DB
	ciphertext       []byte
	// recentJob is the last backup job started, for the load's
	// DescribeBackupJob (b.mu).
	recentJob string
}

// setup creates, in the source account, a KMS key, a backup vault under
// it, the service role and the instances (spread over the nodes, which
// hold their servers), each with a few rows, and runs one backup.
func (b *bench) setup(ctx context.Context) error {
	for _, n := range b.nodes {
		if err := b.newClients(ctx, n); err != nil {
			return err
		}
	}
	a := b.nodes[0].clients.account
	var err error
	if b.fx.key, err = a.CreateKey(ctx, "bench-cmk", scenario.KeyPolicy(demo.Source)); err != nil {
		return err
	}
	if b.fx.role, err = a.BackupRole(ctx, "bench-backup-role"); err != nil {
		return err
	}
	if _, err = a.Vault(ctx, "bench-vault", b.fx.key); err != nil {
		return err
	}
	b.fx.vault = "bench-vault"
	enc, err := a.KMS.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(b.fx.key), Plaintext: []byte("coffer bench cluster: a small secret")})
	if err != nil {
		return err
	}
	b.fx.ciphertext = enc.CiphertextBlob
	b.logf("creating %d PostgreSQL and %d SQLite instances", b.o.Postgres, b.o.SQLite)
	specs := make([]scenario.DBSpec, 0, b.o.Postgres+b.o.SQLite)
	retention := aws.Int32(int32(b.o.BackupRetention))
	for i := 0; i < b.o.Postgres; i++ {
		specs = append(specs, scenario.DBSpec{ID: fmt.Sprintf("bench-pg-%d", i+1), Engine: "postgres", KeyID: b.fx.key, DBName: "bench", User: "bench_admin", Password: "bench-Passw0rd-cluster", BackupRetention: retention})
	}
	for i := 0; i < b.o.SQLite; i++ {
		specs = append(specs, scenario.DBSpec{ID: fmt.Sprintf("bench-sqlite-%d", i+1), Engine: "sqlite", KeyID: b.fx.key})
	}
	b.fx.instances = make([]*scenario.DB, len(specs))
	// A few at a time: each PostgreSQL one starts a server.
	sem := make(chan struct{}, 4)
	errs := make(chan error, len(specs))
	var wg sync.WaitGroup
	create := func(i int) {
		db, err := b.nodes[i%len(b.nodes)].clients.account.CreateDB(ctx, specs[i])
		if err == nil {
			err = fill(db)
		}
		if err != nil {
			errs <- fmt.Errorf("instance %s: %w", specs[i].ID, err)
			return
		}
		b.fx.instances[i] = db
	}
	// The first alone: nodes sharing a data directory race to make the
	// PostgreSQL template (DATA-DIR/pg/template-MAJOR) otherwise.
	create(0)
	for i := 1; i < len(specs); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			create(i)
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	// A first backup opens the bucket on a node and shows the set-up
	// works (of the last instance: SQLite, when there is one).
	first, err := a.BackupJob(ctx, b.fx.vault, b.fx.instances[len(specs)-1].ARN, b.fx.role)
	if err != nil {
		return err
	}
	if first.State != backuptypes.BackupJobStateCompleted {
		return fmt.Errorf("the first backup job ended %s: %s", first.State, aws.ToString(first.StatusMessage))
	}
	b.fx.recentJob = aws.ToString(first.BackupJobId)
	b.logf("set up: key, vault, role, %d instances, a first backup in %s", len(specs), aws.ToTime(first.CompletionDate).Sub(aws.ToTime(first.CreationDate)).Round(1e6))
	return nil
}

// fill gives an instance a small table.
func fill(db *scenario.DB) error {
	conn, err := db.Open()
	if err != nil {
		return err
	}
	defer conn.Close()
	return scenario.FillOrders(conn, 2000)
}
