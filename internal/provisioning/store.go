package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotFound means no record exists under a key.
var ErrNotFound = errors.New("account record not found")

// errConflict means another writer changed the record since it was read.
var errConflict = errors.New("account record changed concurrently")

// Store keeps account records in a KV bucket, every write a compare-and-swap.
type Store struct {
	kv jetstream.KeyValue
	// noted: index entries (key → value) this Store wrote, which it need
	// not write again: an index entry's value never changes and none is
	// ever deleted. Bounded: it is emptied when full.
	mu    sync.Mutex
	noted map[string]string
}

// NewStore returns a Store over bucket kv (events.BucketAccounts).
func NewStore(kv jetstream.KeyValue) *Store { return &Store{kv: kv, noted: map[string]string{}} }

// maxNoted bounds Store.noted.
const maxNoted = 100_000

// note writes index entry key = value unless this Store already did.
func (s *Store) note(ctx context.Context, key, value string) error {
	s.mu.Lock()
	done := s.noted[key] == value
	s.mu.Unlock()
	if done {
		return nil
	}
	if _, err := s.kv.Put(ctx, key, []byte(value)); err != nil {
		return err
	}
	s.mu.Lock()
	if len(s.noted) >= maxNoted {
		clear(s.noted)
	}
	s.noted[key] = value
	s.mu.Unlock()
	return nil
}

var validKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,200}$`)

// Get returns the record under key and its revision.
func (s *Store) Get(ctx context.Context, key string) (*Record, uint64, error) {
	r, snap, err := s.get(ctx, key)
	return r, snap.rev, err
}

// snapshot is a record as stored at a revision: what a writer last read
// or wrote, to start its next write from without reading it again.
type snapshot struct {
	data []byte
	rec  *Record // data decoded: private to the snapshot, only ever cloned (nil: decode data)
	rev  uint64  // 0: none
}

// record returns the snapshot's record for the caller to read or change: a
// copy of the decoded one (cloning is a fraction of decoding's cost).
func (s snapshot) record() (*Record, error) {
	if s.rec != nil {
		return s.rec.clone(), nil
	}
	return DecodeRecord(s.data)
}

func (s *Store) get(ctx context.Context, key string) (*Record, snapshot, error) {
	if !validKey.MatchString(key) {
		return nil, snapshot{}, fmt.Errorf("record key %q is not a Stripe id", key)
	}
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, snapshot{}, ErrNotFound
	}
	if err != nil {
		return nil, snapshot{}, fmt.Errorf("get record %s: %w", key, err)
	}
	r, err := DecodeRecord(e.Value())
	if err != nil {
		return nil, snapshot{}, fmt.Errorf("decode record %s: %w", key, err)
	}
	return r, snapshot{data: e.Value(), rec: r.clone(), rev: e.Revision()}, nil
}

// put writes r if the stored revision is still rev (0: r must be new).
func (s *Store) put(ctx context.Context, r *Record, rev uint64) (snapshot, error) {
	r.Format = FormatVersion
	data, err := json.Marshal(r)
	if err != nil {
		return snapshot{}, fmt.Errorf("encode record %s: %w", r.Key, err)
	}
	if rev == 0 {
		rev, err = s.kv.Create(ctx, r.Key, data)
	} else {
		rev, err = s.kv.Update(ctx, r.Key, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
		return snapshot{}, errConflict
	}
	if err != nil {
		return snapshot{}, fmt.Errorf("write record %s: %w", r.Key, err)
	}
	return snapshot{data: data, rec: r.clone(), rev: rev}, nil
}

// isWrongSequence reports a compare-and-swap conflict: a single server
// reports it as code 10071, a replicated (R3) stream as 10164.
func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Update reads the record under key (a new one if none), applies fn, and
// writes it back with compare-and-swap, re-reading and re-applying fn on a
// conflict. fn must be a pure function of the record it is given. If fn
// returns errNoChange nothing is written. It returns the record as stored.
func (s *Store) Update(ctx context.Context, key string, fn func(r *Record) error) (*Record, uint64, error) {
	r, snap, err := s.updateFrom(ctx, key, snapshot{}, fn)
	return r, snap.rev, err
}

// updateFrom is Update starting from the record as it was at from (one the
// caller read or wrote): fn is applied to it, and the result written if
// the record is still at that revision, which saves a read. In every other
// case — the record changed since, fn refused it (errNoChange included),
// or there is no snapshot — it is Update. Either way the result is fn
// applied to the record as stored, written with compare-and-swap.
func (s *Store) updateFrom(ctx context.Context, key string, from snapshot, fn func(r *Record) error) (*Record, snapshot, error) {
	if from.rev > 0 {
		if r, err := from.record(); err == nil && r.Key == key && fn(r) == nil {
			snap, err := s.put(ctx, r, from.rev)
			if err == nil {
				return r, snap, nil
			}
			if !errors.Is(err, errConflict) {
				return nil, snapshot{}, err
			}
		}
	}
	for attempt := 0; ; attempt++ {
		r, snap, err := s.get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			r, snap, err = &Record{Key: key, Created: time.Now().UTC()}, snapshot{}, nil
		}
		if err != nil {
			return nil, snapshot{}, err
		}
		if err := fn(r); errors.Is(err, errNoChange) {
			return r, snap, nil
		} else if err != nil {
			return nil, snapshot{}, err
		}
		written, err := s.put(ctx, r, snap.rev)
		if errors.Is(err, errConflict) && attempt < 50 {
			continue
		}
		if err != nil {
			return nil, snapshot{}, err
		}
		return r, written, nil
	}
}

// errNoChange tells Update that fn left the record as it was.
var errNoChange = errors.New("no change")

// Keys lists every record key.
func (s *Store) Keys(ctx context.Context) ([]string, error) {
	keys, err := s.kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(keys, func(k string) bool { return strings.Contains(k, ".") }), nil
}

// index notes that Stripe object id (an invoice, payment intent or charge)
// belongs to record key, so a later charge fact can find its record.
func (s *Store) index(ctx context.Context, id, key string) error {
	if id == "" || !validKey.MatchString(id) {
		return nil
	}
	return s.note(ctx, "idx."+id, key)
}

// lookup returns the record key Stripe object id was indexed under, or "".
func (s *Store) lookup(ctx context.Context, id string) (string, error) {
	if id == "" || !validKey.MatchString(id) {
		return "", nil
	}
	e, err := s.kv.Get(ctx, "idx."+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(e.Value()), nil
}

// customerKey notes that record key belongs to customer (a customer may
// have several subscriptions and orders).
func customerKey(customer, key string) string { return "cust." + customer + "." + key }

// indexCustomer notes that record key belongs to customer.
func (s *Store) indexCustomer(ctx context.Context, customer, key string) error {
	if customer == "" || !validKey.MatchString(customer) || !validKey.MatchString(key) {
		return nil
	}
	return s.note(ctx, customerKey(customer, key), key)
}

// customerRecords lists the record keys of customer.
func (s *Store) customerRecords(ctx context.Context, customer string) ([]string, error) {
	if !validKey.MatchString(customer) {
		return nil, fmt.Errorf("customer %q is not a Stripe id", customer)
	}
	lister, err := s.kv.ListKeysFiltered(ctx, customerKey(customer, "*"))
	if err != nil {
		return nil, fmt.Errorf("list records of %s: %w", customer, err)
	}
	var keys []string
	for k := range lister.Keys() {
		if k = strings.TrimPrefix(k, "cust."+customer+"."); !slices.Contains(keys, k) { // a listing may repeat a key
			keys = append(keys, k)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list records of %s: %w", customer, err)
	}
	return keys, nil
}

// ClaimOf reads a key of bucket ACCOUNTS: the provider and username a
// claim key notes, and whether it is one (its value is the claiming
// record's key). The key layout is this package's: others ask it.
func ClaimOf(kvKey string) (provider, username string, ok bool) {
	rest, ok := strings.CutPrefix(kvKey, "claim.")
	if !ok {
		return "", "", false
	}
	provider, username, ok = strings.Cut(rest, ".")
	return provider, username, ok && provider != "" && username != ""
}

// claimKey is where the record owning a provider account is noted, so an
// adoption never takes an account another record made.
func claimKey(provider, username string) string { return "claim." + provider + "." + username }

var validUsername = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// claim notes that username at provider belongs to record key. It fails if
// another record claimed it first.
func (s *Store) claim(ctx context.Context, provider, username, key string) error {
	if !validUsername.MatchString(username) {
		return fmt.Errorf("username %q cannot be claimed", username)
	}
	_, err := s.kv.Create(ctx, claimKey(provider, username), []byte(key))
	if errors.Is(err, jetstream.ErrKeyExists) {
		owner, oerr := s.claimOwner(ctx, provider, username)
		if oerr == nil && owner == key {
			return nil
		}
		return fmt.Errorf("%s at %s is claimed by %s", username, provider, owner)
	}
	return err
}

// claimOwner returns the record that claimed username, or "".
func (s *Store) claimOwner(ctx context.Context, provider, username string) (string, error) {
	if !validUsername.MatchString(username) {
		return "", nil
	}
	e, err := s.kv.Get(ctx, claimKey(provider, username))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(e.Value()), nil
}
