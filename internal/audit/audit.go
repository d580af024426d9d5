// Package audit is coffer's audit trail: one event per API call — allowed,
// denied or failed, authenticated or not — with time, account, principal,
// service, operation, source IP, request ID, error code, the request's
// parameters (secrets redacted; binary payloads such as ciphertexts left
// out, as CloudTrail leaves them out), CloudTrail's additionalEventData
// where the event has one (console sign-ins), and the authorization
// decisions taken.
// Events are kept in the metadata store (table audit_events) and read back
// through a CloudTrail LookupEvents subset and `coffer audit`.
//
// The server hands each finished call to a Recorder, which writes events
// in batches from one goroutine so that recording adds no database round
// trip to a request; a batch waits up to batchLinger for company. Events
// still queued when the process dies are lost; Close (at shutdown) and
// Flush (LookupEvents calls it) write them.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/coffer-dev/coffer/internal/meta"
)

// Event is one recorded API call.
type Event struct {
	ID   string
	Time time.Time
	// AccountID is the caller's account, "" when the request could not
	// be authenticated.
	AccountID     string
	PrincipalType string // User, AssumedRole, Account; "" when unauthenticated
	PrincipalARN  string
	PrincipalID   string // AIDA..., AROA...:session
	UserName      string // the user or role name
	AccessKeyID   string // from the credential scope, even when the signature failed
	Service       string // signing name: iam, kms, backup, ...
	Operation     string
	Region        string
	SourceIP      string
	UserAgent     string
	RequestID     string
	HTTPStatus    int
	ErrorCode     string
	ErrorMessage  string
	ReadOnly      bool
	// Parameters are the request's parameters with secrets redacted, a
	// JSON object.
	Parameters json.RawMessage
	// AdditionalData is CloudTrail's additionalEventData, a JSON object;
	// nil when the event has none.
	AdditionalData json.RawMessage
	// Decisions explain the authorization decisions taken.
	Decisions []string
}

// EventSource is the CloudTrail name of the service: kms.amazonaws.com.
func (e Event) EventSource() string {
	if e.Service == "" {
		return ""
	}
	return e.Service + ".amazonaws.com"
}

// IsReadOnly tells from an operation's name whether it only reads, as
// CloudTrail's readOnly field does.
func IsReadOnly(operation string) bool {
	for _, p := range []string{"Get", "List", "Describe", "Lookup"} {
		if strings.HasPrefix(operation, p) {
			return true
		}
	}
	return false
}

// Recorder writes events to the store in batches.
type Recorder struct {
	store meta.Store
	log   *slog.Logger
	ch    chan request
	done  chan struct{}
	once  sync.Once
	mu    sync.RWMutex // held for reading by Record, for writing by Close
	shut  bool
	// failed counts events that could not be written.
	failed atomic.Int64
	// pruned is when events past Retention were last deleted.
	pruned time.Time
}

// Retention is how long events are kept, as CloudTrail's event history
// keeps 90 days; older ones are deleted once an hour.
const Retention = 90 * 24 * time.Hour

type request struct {
	ev    *Event
	flush chan struct{} // closed once everything queued before it is written
}

// queueSize bounds the events waiting to be written; Record blocks when it
// is full rather than drop an event.
const queueSize = 4096

// NewRecorder starts a recorder writing to store.
func NewRecorder(store meta.Store, log *slog.Logger) *Recorder {
	r := &Recorder{store: store, log: log, ch: make(chan request, queueSize), done: make(chan struct{})}
	go r.run()
	return r
}

// Record queues an event. It never fails the request: a write failure is
// logged (without the parameters).
func (r *Recorder) Record(e Event) {
	if e.ID == "" {
		e.ID = newEventID()
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.shut {
		r.log.Warn("audit event after shutdown not recorded", "request_id", e.RequestID, "operation", e.Operation)
		return
	}
	r.ch <- request{ev: &e}
}

// Flush waits until every event recorded before it is in the store.
func (r *Recorder) Flush(ctx context.Context) error {
	f := make(chan struct{})
	r.mu.RLock()
	if r.shut {
		r.mu.RUnlock()
		return nil
	}
	r.ch <- request{flush: f}
	r.mu.RUnlock()
	select {
	case <-f:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Failed is the number of events that could not be written.
func (r *Recorder) Failed() int64 { return r.failed.Load() }

// Close writes what is queued and stops the recorder.
func (r *Recorder) Close() error {
	r.once.Do(func() {
		r.mu.Lock()
		r.shut = true
		close(r.ch)
		r.mu.Unlock()
		<-r.done
	})
	return nil
}

// batchLinger is how long the recorder waits, after the first event of a
// batch, for more to join it: one transaction of hundreds of events costs
// far less than hundreds of small ones. Flush (and so LookupEvents) does
// not wait for it.
const batchLinger = 100 * time.Millisecond

// maxBatch bounds the events of one transaction.
const maxBatch = 1024

func (r *Recorder) run() {
	defer close(r.done)
	linger := time.NewTimer(batchLinger)
	linger.Stop()
	for req := range r.ch {
		batch := []*Event{}
		var flushes []chan struct{}
		add := func(q request) {
			if q.ev != nil {
				batch = append(batch, q.ev)
			}
			if q.flush != nil {
				flushes = append(flushes, q.flush)
			}
		}
		add(req)
		linger.Reset(batchLinger)
	more:
		for len(batch) < maxBatch && len(flushes) == 0 {
			select {
			case q, ok := <-r.ch:
				if !ok {
					break more
				}
				add(q)
			case <-linger.C:
				break more
			}
		}
		linger.Stop()
		if time.Since(r.pruned) > time.Hour {
			r.pruned = time.Now()
			if err := r.prune(); err != nil {
				r.log.Warn("old audit events not deleted", "error", err)
			}
		}
		if len(batch) > 0 {
			if err := r.write(batch); err != nil {
				r.failed.Add(int64(len(batch)))
				r.log.Error("audit events not recorded", "events", len(batch), "first_request_id", batch[0].RequestID, "error", err)
			}
		}
		for _, f := range flushes {
			close(f)
		}
	}
}

// insertRows is how many events one INSERT statement carries: parsing a
// statement costs more than binding its values.
const insertRows = 64

func (r *Recorder) write(batch []*Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return r.store.InTx(ctx, func(q meta.Querier) error {
		for len(batch) > 0 {
			n := min(len(batch), insertRows)
			var sb strings.Builder
			sb.WriteString(`INSERT INTO audit_events (event_id, event_time, account_id, principal_type, principal_arn, principal_id, user_name, access_key_id,
				service, operation, region, source_ip, user_agent, request_id, http_status, error_code, error_message, read_only, request_parameters, decision, additional_event_data) VALUES `)
			args := make([]any, 0, n*21)
			for i, e := range batch[:n] {
				if i > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
				params := e.Parameters
				if len(params) == 0 {
					params = json.RawMessage("{}")
				}
				decisions, _ := json.Marshal(e.Decisions)
				args = append(args, e.ID, e.Time.UnixNano(), e.AccountID, e.PrincipalType, e.PrincipalARN, e.PrincipalID, e.UserName, e.AccessKeyID,
					e.Service, e.Operation, e.Region, e.SourceIP, clip(e.UserAgent, 512), e.RequestID, e.HTTPStatus, e.ErrorCode, clip(e.ErrorMessage, 2048),
					boolInt(e.ReadOnly), string(params), string(decisions), string(e.AdditionalData))
			}
			if _, err := q.ExecContext(ctx, sb.String(), args...); err != nil {
				return fmt.Errorf("insert audit events: %w", err)
			}
			batch = batch[n:]
			// A batch is milliseconds of CPU; between statements the
			// requests being served go first.
			runtime.Gosched()
		}
		return nil
	})
}

func (r *Recorder) prune() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := r.store.ExecContext(ctx, `DELETE FROM audit_events WHERE event_time < ?`, time.Now().Add(-Retention).UnixNano())
	return err
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// newEventID is a UUID, as CloudTrail's event IDs are; version 7, so that
// IDs grow with time and the primary-key index is appended to rather
// than written all over.
func newEventID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// boolInt stores a flag in a portable INTEGER column.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
