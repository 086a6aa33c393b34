package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotFound means no record exists under a key.
var ErrNotFound = errors.New("account record not found")

// errConflict means another writer changed the record since it was read.
var errConflict = errors.New("account record changed concurrently")

// Store keeps account records in a KV bucket, every write a compare-and-swap.
type Store struct{ kv jetstream.KeyValue }

// NewStore returns a Store over bucket kv (events.BucketAccounts).
func NewStore(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

var validKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,200}$`)

// Get returns the record under key and its revision.
func (s *Store) Get(ctx context.Context, key string) (*Record, uint64, error) {
	if !validKey.MatchString(key) {
		return nil, 0, fmt.Errorf("record key %q is not a Stripe id", key)
	}
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get record %s: %w", key, err)
	}
	r, err := DecodeRecord(e.Value())
	if err != nil {
		return nil, 0, fmt.Errorf("decode record %s: %w", key, err)
	}
	return r, e.Revision(), nil
}

// put writes r if the stored revision is still rev (0: r must be new).
func (s *Store) put(ctx context.Context, r *Record, rev uint64) (uint64, error) {
	r.Format = FormatVersion
	data, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode record %s: %w", r.Key, err)
	}
	if rev == 0 {
		rev, err = s.kv.Create(ctx, r.Key, data)
	} else {
		rev, err = s.kv.Update(ctx, r.Key, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
		return 0, errConflict
	}
	if err != nil {
		return 0, fmt.Errorf("write record %s: %w", r.Key, err)
	}
	return rev, nil
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
	for attempt := 0; ; attempt++ {
		r, rev, err := s.Get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			r, rev, err = &Record{Key: key, Created: time.Now().UTC()}, 0, nil
		}
		if err != nil {
			return nil, 0, err
		}
		if err := fn(r); errors.Is(err, errNoChange) {
			return r, rev, nil
		} else if err != nil {
			return nil, 0, err
		}
		newRev, err := s.put(ctx, r, rev)
		if errors.Is(err, errConflict) && attempt < 50 {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		return r, newRev, nil
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
	_, err := s.kv.Put(ctx, "idx."+id, []byte(key))
	return err
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
	_, err := s.kv.Put(ctx, customerKey(customer, key), []byte(key))
	return err
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
