package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// EventState is what BeginEvent found; it tells intake what to do.
type EventState int

// The answers of BeginEvent; see the package doc.
const (
	// EventNew: this call created the event. Queue it.
	EventNew EventState = iota + 1
	// EventReceived: seen before, queuing never completed, and this call took
	// over the expired claim. Queue again (dispatch deduplicates records).
	EventReceived
	// EventInProgress: another invocation holds a live claim and is queuing.
	// Answer 503 with Retry-After.
	EventInProgress
	// EventQueued: fully queued before. Answer 202 duplicate.
	EventQueued
)

func (s EventState) String() string {
	switch s {
	case EventNew:
		return "new"
	case EventReceived:
		return "received"
	case EventInProgress:
		return "in_progress"
	case EventQueued:
		return "queued"
	default:
		return "unknown"
	}
}

// Stored event states.
const (
	stateReceived = "received"
	stateQueued   = "queued"
)

func eventKey(eventID string) string { return "event#" + eventID }

// BeginEvent records that intake received eventID with the given number of
// records, or reports what an earlier request for the same event did.
func (l *Ledger) BeginEvent(ctx context.Context, eventID string, records int) (EventState, error) {
	const op = "BeginEvent"
	if err := checkID("event id", eventID); err != nil {
		return 0, err
	}
	if records < 0 {
		return 0, errors.New("ledger: BeginEvent: negative record count")
	}
	pk := eventKey(eventID)
	for range maxRounds {
		c := l.clock()
		_, err := l.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(l.table),
			Item: map[string]types.AttributeValue{
				attrPK:      str(pk),
				attrState:   str(stateReceived),
				attrRecords: num(int64(records)),
				attrCreated: num(c.nowMS),
				attrUpdated: num(c.nowMS),
				attrClaim:   num(c.nowMS + l.eventLease.Milliseconds()),
				attrExpires: num(c.expires),
			},
			ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames:            namesFor("#pk"),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return EventNew, nil
		}
		returned, ok := conditionFailed(err)
		if !ok {
			return 0, unavailable(op, err)
		}
		av, err := l.current(ctx, op, pk, returned)
		if err != nil {
			return 0, err
		}
		if av == nil {
			continue // expired and deleted in between: create it again
		}
		it, err := decode(op, av)
		if err != nil {
			return 0, err
		}
		switch it.state {
		case stateQueued:
			return EventQueued, nil
		case stateReceived:
			if it.hasClaim && it.claim > c.nowMS {
				return EventInProgress, nil
			}
			took, err := l.takeOverEvent(ctx, pk, it)
			if err != nil {
				return 0, err
			}
			if took {
				return EventReceived, nil
			}
			// Someone else took it over or finished it; look again.
		default:
			return 0, &StateError{Op: op, State: it.state}
		}
	}
	return 0, &UnavailableError{Op: op, Code: "Contention"}
}

// takeOverEvent claims an event whose earlier claim expired. It reports false
// when another writer changed the event first.
func (l *Ledger) takeOverEvent(ctx context.Context, pk string, it item) (bool, error) {
	const op = "BeginEvent"
	c := l.clock()
	return l.updateIfClaimUnchanged(ctx, op, pk, it, "#state = :received",
		"SET #claim = :until, #updated = :now, #expires = :exp",
		map[string]types.AttributeValue{
			":received": str(stateReceived),
			":until":    num(c.nowMS + l.eventLease.Milliseconds()),
			":now":      num(c.nowMS),
			":exp":      num(c.expires),
		})
}

// MarkEventQueued records that every record of eventID was queued; later
// BeginEvent calls answer EventQueued.
func (l *Ledger) MarkEventQueued(ctx context.Context, eventID string) error {
	const op = "MarkEventQueued"
	if err := checkID("event id", eventID); err != nil {
		return err
	}
	c := l.clock()
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(l.table),
		Key:                 key(eventKey(eventID)),
		UpdateExpression:    aws.String("SET #state = :queued, #updated = :now, #expires = :exp REMOVE #claim"),
		ConditionExpression: aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: namesFor(
			"#pk", "#state", "#updated", "#expires", "#claim"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":queued": str(stateQueued),
			":now":    num(c.nowMS),
			":exp":    num(c.expires),
		},
	})
	if err == nil {
		return nil
	}
	if _, ok := conditionFailed(err); ok {
		return fmt.Errorf("ledger: %s: %w", op, ErrNotFound)
	}
	return unavailable(op, err)
}
