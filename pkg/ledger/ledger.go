package ledger

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Client is the subset of *dynamodb.Client the ledger uses.
type Client interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Defaults.
const (
	// DefaultTTL is how long an entry is kept after its last write.
	DefaultTTL = 30 * 24 * time.Hour
	// DefaultLease is how long a delivery claim lasts. It must exceed the
	// dispatch function timeout (see the package doc).
	DefaultLease = 5 * time.Minute
	// DefaultEventLease is how long an intake claim on an event lasts. It must
	// exceed the intake function timeout.
	DefaultEventLease = time.Minute
)

// maxIDBytes keeps keys well inside DynamoDB's 2048-byte partition key limit
// with room for the prefix.
const maxIDBytes = 1024

// maxRounds bounds the read-then-write loops. Each extra round means another
// writer changed the item in between, which a handful of rounds absorbs; more
// is treated as unavailable so callers back off.
const maxRounds = 8

// Attribute names. They are the whole vocabulary of the table: see the
// package doc.
const (
	attrPK        = "pk"
	attrState     = "state"
	attrRecords   = "records"
	attrAttempts  = "attempts"
	attrCreated   = "created_at"
	attrUpdated   = "updated_at"
	attrClaim     = "claimed_until"
	attrNovaMedID = "novamed_id"
	attrExpires   = "expires_at"
)

// names maps expression placeholders to attribute names. No placeholder is a
// prefix of another: some emulators substitute them textually.
var names = map[string]string{
	"#pk":       attrPK,
	"#state":    attrState,
	"#records":  attrRecords,
	"#attempts": attrAttempts,
	"#created":  attrCreated,
	"#updated":  attrUpdated,
	"#claim":    attrClaim,
	"#nmid":     attrNovaMedID,
	"#expires":  attrExpires,
}

// namesFor returns the subset of names an expression uses: DynamoDB rejects
// unused expression attribute names.
func namesFor(placeholders ...string) map[string]string {
	m := make(map[string]string, len(placeholders))
	for _, p := range placeholders {
		m[p] = names[p]
	}
	return m
}

// Option configures a Ledger.
type Option func(*Ledger)

// WithTTL sets how long entries are kept after their last write (default 30
// days). Non-positive values are ignored.
func WithTTL(d time.Duration) Option {
	return func(l *Ledger) {
		if d > 0 {
			l.ttl = d
		}
	}
}

// WithClock sets the clock, for tests. Nil is ignored.
func WithClock(now func() time.Time) Option {
	return func(l *Ledger) {
		if now != nil {
			l.now = now
		}
	}
}

// WithLease sets how long a delivery claim lasts (default 5 minutes).
// Non-positive values are ignored.
func WithLease(d time.Duration) Option {
	return func(l *Ledger) {
		if d > 0 {
			l.lease = d
		}
	}
}

// WithEventLease sets how long an intake claim on an event lasts (default 1
// minute). Non-positive values are ignored.
func WithEventLease(d time.Duration) Option {
	return func(l *Ledger) {
		if d > 0 {
			l.eventLease = d
		}
	}
}

// Ledger records event and delivery states in one DynamoDB table. It is safe
// for concurrent use.
type Ledger struct {
	client     Client
	table      string
	ttl        time.Duration
	lease      time.Duration
	eventLease time.Duration
	now        func() time.Time
}

// New returns a Ledger over table.
func New(client Client, table string, opts ...Option) *Ledger {
	l := &Ledger{
		client:     client,
		table:      table,
		ttl:        DefaultTTL,
		lease:      DefaultLease,
		eventLease: DefaultEventLease,
		now:        time.Now,
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Lease returns the delivery claim lease.
func (l *Ledger) Lease() time.Duration { return l.lease }

// EventLease returns the intake claim lease; intake can use it as Retry-After
// when it answers 503 to EventInProgress.
func (l *Ledger) EventLease() time.Duration { return l.eventLease }

// clock is one reading of the clock, in the units the table stores.
type clock struct {
	nowMS   int64 // Unix milliseconds
	expires int64 // Unix seconds
}

func (l *Ledger) clock() clock {
	now := l.now()
	return clock{nowMS: now.UnixMilli(), expires: now.Add(l.ttl).Unix()}
}

func checkID(field, id string) error {
	if id == "" || len(id) > maxIDBytes || !utf8.ValidString(id) {
		return fmt.Errorf("ledger: %s: %w", field, ErrInvalidID)
	}
	return nil
}

func key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(pk)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// get reads an item with a consistent read; nil means absent.
func (l *Ledger) get(ctx context.Context, op, pk string) (map[string]types.AttributeValue, error) {
	out, err := l.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(l.table),
		Key:            key(pk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, unavailable(op, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// current returns the item a failed condition was evaluated against: the one
// DynamoDB sent back, or a fresh consistent read.
func (l *Ledger) current(ctx context.Context, op, pk string, returned map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	if len(returned) > 0 {
		return returned, nil
	}
	return l.get(ctx, op, pk)
}

// item is a decoded ledger item.
type item struct {
	state     string
	records   int64
	attempts  int64
	created   int64
	updated   int64
	claim     int64
	hasClaim  bool
	novamedID string
}

// decode reads the attributes the ledger relies on. Missing optional numbers
// read as zero; a missing state is corrupt.
func decode(op string, av map[string]types.AttributeValue) (item, error) {
	var it item
	s, ok := av[attrState].(*types.AttributeValueMemberS)
	if !ok {
		return it, fmt.Errorf("ledger: %s: attribute %s: %w", op, attrState, ErrCorruptItem)
	}
	it.state = s.Value
	for name, dst := range map[string]*int64{
		attrRecords:  &it.records,
		attrAttempts: &it.attempts,
		attrCreated:  &it.created,
		attrUpdated:  &it.updated,
		attrClaim:    &it.claim,
	} {
		v, present := av[name]
		if !present {
			continue
		}
		n, ok := v.(*types.AttributeValueMemberN)
		if !ok {
			return it, fmt.Errorf("ledger: %s: attribute %s: %w", op, name, ErrCorruptItem)
		}
		parsed, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return it, fmt.Errorf("ledger: %s: attribute %s: %w", op, name, ErrCorruptItem)
		}
		*dst = parsed
		if name == attrClaim {
			it.hasClaim = true
		}
	}
	if v, present := av[attrNovaMedID]; present {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return it, fmt.Errorf("ledger: %s: attribute %s: %w", op, attrNovaMedID, ErrCorruptItem)
		}
		it.novamedID = s.Value
	}
	return it, nil
}

// claimCondition matches the observed claim exactly, so of several writers
// racing to take over an expired claim only one passes.
func claimCondition(it item) (string, map[string]types.AttributeValue) {
	if !it.hasClaim {
		return "attribute_not_exists(#claim)", nil
	}
	return "#claim = :observed", map[string]types.AttributeValue{":observed": num(it.claim)}
}

// updateIfClaimUnchanged applies update to the item at pk only while
// stateCond holds and the item still carries the claim it was read with
// (it), so of several writers taking over an expired claim only one wins.
// values binds the placeholders of update and stateCond; the observed
// claim's is added to it. It reports false when another writer changed the
// item first.
func (l *Ledger) updateIfClaimUnchanged(ctx context.Context, op, pk string, it item, stateCond, update string, values map[string]types.AttributeValue) (bool, error) {
	claimCond, observed := claimCondition(it)
	maps.Copy(values, observed)
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       key(pk),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(stateCond + " AND " + claimCond),
		ExpressionAttributeNames:  namesFor("#state", "#claim", "#updated", "#expires"),
		ExpressionAttributeValues: values,
	})
	if err == nil {
		return true, nil
	}
	if _, ok := conditionFailed(err); ok {
		return false, nil
	}
	return false, unavailable(op, err)
}

func msToTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
