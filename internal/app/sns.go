package app

import (
	"context"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/rootkey"
	"github.com/coffer-dev/coffer/internal/sns"
)

// openSNS assembles the topic service on the job queue and lets backup
// vaults notify through it.
func (a *App) openSNS(ids *identity.Service, keys rootkey.Provider, workers *river.Workers, reg prometheus.Registerer) {
	a.sns = sns.New(sns.Options{Store: a.store, Authz: ids.Authorizer(), Queue: a.queue, RootKey: keys, Log: a.log.With("component", "sns"), Registerer: reg, Now: a.now})
	a.sns.AddWorkers(workers)
	a.backup.SetNotifier(snsNotifier{a.sns})
}

// snsNotifier publishes backup's vault notifications as the Backup
// service principal.
type snsNotifier struct{ sns *sns.Service }

var _ backup.Notifier = snsNotifier{}

func (n snsNotifier) Notify(ctx context.Context, m backup.Notification) error {
	_, err := n.sns.PublishFrom(ctx, backup.ServicePrincipal, m.SourceAccount, m.SourceARN, m.TopicARN, m.Subject, m.Message, m.Attributes)
	return err
}

// baseURL is the URL SNS messages link back to: the listener's address,
// with https when coffer serves TLS.
func (a *App) baseURL(ln net.Listener) string {
	scheme := "http"
	if a.tlsCert != nil {
		scheme = "https"
	}
	return scheme + "://" + ln.Addr().String()
}
