package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// RecordState is a record's stored delivery state.
type RecordState string

// Stored record states; see the package doc for the transitions.
const (
	// RecordDelivering: a worker holds (or held, if claimed_until passed) a
	// claim and may be calling NovaMed.
	RecordDelivering RecordState = "delivering"
	// RecordDelivered: NovaMed created it; novamed_id holds its id.
	RecordDelivered RecordState = "delivered"
	// RecordReleased: the last attempt certainly created nothing; the next
	// ClaimDelivery is granted.
	RecordReleased RecordState = "released"
	// RecordUnconfirmed: an attempt may have reached NovaMed; waits for an
	// operator.
	RecordUnconfirmed RecordState = "unconfirmed"
)

// ClaimStatus is the answer of ClaimDelivery.
type ClaimStatus int

// The answers of ClaimDelivery; see the package doc.
const (
	// ClaimGranted: call NovaMed, then record the outcome.
	ClaimGranted ClaimStatus = iota + 1
	// AlreadyDelivered: delete the message without calling NovaMed.
	AlreadyDelivered
	// InFlight: another worker holds a live claim; retry later.
	InFlight
	// Unconfirmed: an earlier attempt may have reached NovaMed; do not call,
	// dead-letter with error class "unconfirmed".
	Unconfirmed
)

func (s ClaimStatus) String() string {
	switch s {
	case ClaimGranted:
		return "granted"
	case AlreadyDelivered:
		return "already_delivered"
	case InFlight:
		return "in_flight"
	case Unconfirmed:
		return "unconfirmed"
	default:
		return "unknown"
	}
}

// Claim is the answer of ClaimDelivery. It holds no PHI and may be logged.
type Claim struct {
	Status ClaimStatus
	// Attempts is the number of claims granted for the record so far,
	// including this one when Status is ClaimGranted.
	Attempts int
	// NovaMedID is the id NovaMed returned, when Status is AlreadyDelivered.
	NovaMedID string
	// ClaimedUntil is when the claim ends, when Status is ClaimGranted or
	// InFlight (dispatch can delay the retry of an InFlight message until then).
	ClaimedUntil time.Time
}

// RecordInfo is a record's ledger entry, for operators and the redrive tool.
type RecordInfo struct {
	State     RecordState
	Attempts  int
	NovaMedID string
	// ClaimedUntil is zero when no claim is held.
	ClaimedUntil time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func recordKey(recordID string) string { return "record#" + recordID }

// ClaimDelivery claims recordID for one delivery attempt, or reports why it
// must not be attempted now.
func (l *Ledger) ClaimDelivery(ctx context.Context, recordID string) (Claim, error) {
	const op = "ClaimDelivery"
	if err := checkID("record id", recordID); err != nil {
		return Claim{}, err
	}
	pk := recordKey(recordID)
	for range maxRounds {
		c := l.clock()
		until := c.nowMS + l.lease.Milliseconds()
		out, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(l.table),
			Key:       key(pk),
			UpdateExpression: aws.String("SET #state = :delivering, " +
				"#attempts = if_not_exists(#attempts, :zero) + :one, " +
				"#claim = :until, #created = if_not_exists(#created, :now), " +
				"#updated = :now, #expires = :exp"),
			ConditionExpression: aws.String("attribute_not_exists(#pk) OR #state = :released"),
			ExpressionAttributeNames: namesFor(
				"#pk", "#state", "#attempts", "#claim", "#created", "#updated", "#expires"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":delivering": str(string(RecordDelivering)),
				":released":   str(string(RecordReleased)),
				":zero":       num(0),
				":one":        num(1),
				":until":      num(until),
				":now":        num(c.nowMS),
				":exp":        num(c.expires),
			},
			ReturnValues:                        types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			it, err := decode(op, out.Attributes)
			if err != nil {
				return Claim{}, err
			}
			return Claim{Status: ClaimGranted, Attempts: int(it.attempts), ClaimedUntil: msToTime(until)}, nil
		}
		returned, ok := conditionFailed(err)
		if !ok {
			return Claim{}, unavailable(op, err)
		}
		av, err := l.current(ctx, op, pk, returned)
		if err != nil {
			return Claim{}, err
		}
		if av == nil {
			continue // expired and deleted in between
		}
		it, err := decode(op, av)
		if err != nil {
			return Claim{}, err
		}
		switch RecordState(it.state) {
		case RecordDelivered:
			return Claim{Status: AlreadyDelivered, Attempts: int(it.attempts), NovaMedID: it.novamedID}, nil
		case RecordUnconfirmed:
			return Claim{Status: Unconfirmed, Attempts: int(it.attempts)}, nil
		case RecordDelivering:
			if it.hasClaim && it.claim > c.nowMS {
				return Claim{Status: InFlight, Attempts: int(it.attempts), ClaimedUntil: msToTime(it.claim)}, nil
			}
			// The holder outlived its claim without recording an outcome: it
			// crashed after (perhaps) calling NovaMed. Record that, so the
			// entry itself says what operators must resolve.
			done, err := l.expireClaim(ctx, pk, it)
			if err != nil {
				return Claim{}, err
			}
			if done {
				return Claim{Status: Unconfirmed, Attempts: int(it.attempts)}, nil
			}
		case RecordReleased:
			// Released between our write and our read; claim again.
		default:
			return Claim{}, &StateError{Op: op, State: it.state}
		}
	}
	return Claim{}, &UnavailableError{Op: op, Code: "Contention"}
}

// expireClaim turns a delivering record whose claim expired into unconfirmed.
// It reports false when another writer changed the record first.
func (l *Ledger) expireClaim(ctx context.Context, pk string, it item) (bool, error) {
	const op = "ClaimDelivery"
	c := l.clock()
	return l.updateIfClaimUnchanged(ctx, op, pk, it, "#state = :delivering",
		"SET #state = :unconfirmed, #updated = :now, #expires = :exp REMOVE #claim",
		map[string]types.AttributeValue{
			":delivering":  str(string(RecordDelivering)),
			":unconfirmed": str(string(RecordUnconfirmed)),
			":now":         num(c.nowMS),
			":exp":         num(c.expires),
		})
}

// MarkDelivered records that NovaMed created recordID with novamedID. Dispatch
// calls it after a 2xx; an operator calls it for an unconfirmed record after
// finding it in NovaMed. Repeating it with the same id is a no-op; a different
// id for a delivered record is a *StateError (NovaMed holds two charts).
func (l *Ledger) MarkDelivered(ctx context.Context, recordID, novamedID string) error {
	const op = "MarkDelivered"
	if err := checkID("record id", recordID); err != nil {
		return err
	}
	if err := checkID("novamed id", novamedID); err != nil {
		return err
	}
	c := l.clock()
	return l.transition(ctx, op, recordID, &dynamodb.UpdateItemInput{
		UpdateExpression:    aws.String("SET #state = :delivered, #nmid = :id, #updated = :now, #expires = :exp REMOVE #claim"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND (#state <> :delivered OR #nmid = :id)"),
		ExpressionAttributeNames: namesFor(
			"#pk", "#state", "#nmid", "#updated", "#expires", "#claim"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":delivered": str(string(RecordDelivered)),
			":id":        str(novamedID),
			":now":       num(c.nowMS),
			":exp":       num(c.expires),
		},
	}, nil)
}

// MarkNotDelivered releases the claim after an attempt that certainly created
// nothing (NovaMed answered an error status, or the connection was refused
// before the request was written), so a retry may call NovaMed again.
// Releasing a released record is a no-op.
func (l *Ledger) MarkNotDelivered(ctx context.Context, recordID string) error {
	const op = "MarkNotDelivered"
	if err := checkID("record id", recordID); err != nil {
		return err
	}
	c := l.clock()
	return l.transition(ctx, op, recordID, &dynamodb.UpdateItemInput{
		UpdateExpression:         aws.String("SET #state = :released, #updated = :now, #expires = :exp REMOVE #claim"),
		ConditionExpression:      aws.String("#state = :delivering"),
		ExpressionAttributeNames: namesFor("#state", "#updated", "#expires", "#claim"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":delivering": str(string(RecordDelivering)),
			":released":   str(string(RecordReleased)),
			":now":        num(c.nowMS),
			":exp":        num(c.expires),
		},
	}, []RecordState{RecordReleased})
}

// MarkUnconfirmed records that the attempt may have reached NovaMed without an
// answer (a timeout after the request was written, a connection dropped before
// the response). The record is not attempted again until an operator resolves
// it. Repeating it is a no-op.
func (l *Ledger) MarkUnconfirmed(ctx context.Context, recordID string) error {
	const op = "MarkUnconfirmed"
	if err := checkID("record id", recordID); err != nil {
		return err
	}
	c := l.clock()
	return l.transition(ctx, op, recordID, &dynamodb.UpdateItemInput{
		UpdateExpression:         aws.String("SET #state = :unconfirmed, #updated = :now, #expires = :exp REMOVE #claim"),
		ConditionExpression:      aws.String("#state = :delivering"),
		ExpressionAttributeNames: namesFor("#state", "#updated", "#expires", "#claim"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":delivering":  str(string(RecordDelivering)),
			":unconfirmed": str(string(RecordUnconfirmed)),
			":now":         num(c.nowMS),
			":exp":         num(c.expires),
		},
	}, []RecordState{RecordUnconfirmed})
}

// ResolveUnconfirmed is the operator's release of an unconfirmed record (or a
// delivering one whose claim expired) after checking NovaMed by hand and
// finding nothing: the next ClaimDelivery, e.g. from a redriven message, is
// granted. A delivered record is never released (*StateError). Releasing a
// released record is a no-op.
//
// When the record owns its subject (creating or unconfirmed: the owner's
// uncertain attempt left the person's chart uncertain too), the subject is
// released with it, so the redriven record can create the chart instead of
// meeting its own unconfirmed subject and being dead-lettered again
// (subject_unconfirmed). A subject another record owns is left alone. A
// failure to release the subject is returned after the record was
// released; calling ResolveUnconfirmed again finishes it.
func (l *Ledger) ResolveUnconfirmed(ctx context.Context, recordID string) error {
	if err := l.resolveRecord(ctx, recordID); err != nil {
		return err
	}
	subject, err := l.RecordSubject(ctx, recordID)
	if err != nil || subject == "" {
		return err
	}
	var se *StateError
	if err := l.ReleaseSubject(ctx, subject, recordID); err != nil && !errors.As(err, &se) {
		return err
	}
	return nil
}

func (l *Ledger) resolveRecord(ctx context.Context, recordID string) error {
	const op = "ResolveUnconfirmed"
	if err := checkID("record id", recordID); err != nil {
		return err
	}
	c := l.clock()
	return l.transition(ctx, op, recordID, &dynamodb.UpdateItemInput{
		UpdateExpression: aws.String("SET #state = :released, #updated = :now, #expires = :exp REMOVE #claim"),
		ConditionExpression: aws.String("#state = :unconfirmed OR " +
			"(#state = :delivering AND (attribute_not_exists(#claim) OR #claim <= :now))"),
		ExpressionAttributeNames: namesFor("#state", "#updated", "#expires", "#claim"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":unconfirmed": str(string(RecordUnconfirmed)),
			":delivering":  str(string(RecordDelivering)),
			":released":    str(string(RecordReleased)),
			":now":         num(c.nowMS),
			":exp":         num(c.expires),
		},
	}, []RecordState{RecordReleased})
}

// transition runs a conditional update of recordID. When the condition fails
// it reads the record: absent is ErrNotFound, a state in idempotent means the
// transition already happened (nil), anything else is a *StateError.
func (l *Ledger) transition(ctx context.Context, op, recordID string, in *dynamodb.UpdateItemInput, idempotent []RecordState) error {
	pk := recordKey(recordID)
	in.TableName = aws.String(l.table)
	in.Key = key(pk)
	in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	_, err := l.client.UpdateItem(ctx, in)
	if err == nil {
		return nil
	}
	returned, ok := conditionFailed(err)
	if !ok {
		return unavailable(op, err)
	}
	av, err := l.current(ctx, op, pk, returned)
	if err != nil {
		return err
	}
	if av == nil {
		return fmt.Errorf("ledger: %s: %w", op, ErrNotFound)
	}
	it, err := decode(op, av)
	if err != nil {
		return err
	}
	for _, s := range idempotent {
		if RecordState(it.state) == s {
			return nil
		}
	}
	return &StateError{Op: op, State: it.state}
}

// Record returns recordID's ledger entry, or ErrNotFound.
func (l *Ledger) Record(ctx context.Context, recordID string) (RecordInfo, error) {
	const op = "Record"
	if err := checkID("record id", recordID); err != nil {
		return RecordInfo{}, err
	}
	av, err := l.get(ctx, op, recordKey(recordID))
	if err != nil {
		return RecordInfo{}, err
	}
	if av == nil {
		return RecordInfo{}, fmt.Errorf("ledger: %s: %w", op, ErrNotFound)
	}
	it, err := decode(op, av)
	if err != nil {
		return RecordInfo{}, err
	}
	info := RecordInfo{
		State:     RecordState(it.state),
		Attempts:  int(it.attempts),
		NovaMedID: it.novamedID,
		CreatedAt: msToTime(it.created),
		UpdatedAt: msToTime(it.updated),
	}
	if it.hasClaim {
		info.ClaimedUntil = msToTime(it.claim)
	}
	return info, nil
}
