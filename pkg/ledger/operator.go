package ledger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// EventInfo is an event's ledger entry, for operators (redrive trace).
type EventInfo struct {
	// ID is the event id, "<source>:<32 hex digits>".
	ID string
	// State is "received" (queuing not finished) or "queued".
	State string
	// Records is how many records intake found in the event, held ones
	// included; their ids are "<event id>/<index>" for index 0 to
	// Records-1.
	Records int
	// ClaimedUntil is zero when no intake claim is held.
	ClaimedUntil time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Event returns eventID's ledger entry, or ErrNotFound (never received, or
// expired after the TTL).
func (l *Ledger) Event(ctx context.Context, eventID string) (EventInfo, error) {
	const op = "Event"
	if err := checkID("event id", eventID); err != nil {
		return EventInfo{}, err
	}
	av, err := l.get(ctx, op, eventKey(eventID))
	if err != nil {
		return EventInfo{}, err
	}
	if av == nil {
		return EventInfo{}, fmt.Errorf("ledger: %s: %w", op, ErrNotFound)
	}
	return decodeEvent(op, eventID, av)
}

func decodeEvent(op, eventID string, av map[string]types.AttributeValue) (EventInfo, error) {
	it, err := decode(op, av)
	if err != nil {
		return EventInfo{}, err
	}
	info := EventInfo{
		ID: eventID, State: it.state, Records: int(it.records),
		CreatedAt: msToTime(it.created), UpdatedAt: msToTime(it.updated),
	}
	if it.hasClaim {
		info.ClaimedUntil = msToTime(it.claim)
	}
	return info, nil
}

// Scanner is the part of *dynamodb.Client ScanEvents uses. No function
// of the bridge scans: only operators do, with their own credentials.
type Scanner interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// MaxScanEvents bounds what ScanEvents returns, so a broad query cannot
// fill an operator's terminal (or memory).
const MaxScanEvents = 1000

// ScanEvents lists the events of source received at or after since,
// oldest first, at most MaxScanEvents (truncated reports more).
//
// The table is keyed by event id only, so this is a Scan with a filter
// (pk begins with "event#<source>:" and created_at >= since): it reads, and
// is billed for, the whole table, whatever it returns (about one read unit
// per 8 KB of items with eventually consistent reads). It is an operator's
// tool, not something any function does; the Lambda roles have no
// dynamodb:Scan.
func ScanEvents(ctx context.Context, client Scanner, table, source string, since time.Time) (events []EventInfo, truncated bool, err error) {
	const op = "ScanEvents"
	if err := checkID("source", source); err != nil {
		return nil, false, err
	}
	prefix := eventKey(source + ":")
	in := &dynamodb.ScanInput{
		TableName:        aws.String(table),
		FilterExpression: aws.String("begins_with(#pk, :prefix) AND #created >= :since"),
		ExpressionAttributeNames: map[string]string{
			"#pk": attrPK, "#created": attrCreated,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":prefix": str(prefix),
			":since":  num(since.UnixMilli()),
		},
	}
	for {
		out, err := client.Scan(ctx, in)
		if err != nil {
			return nil, false, unavailable(op, err)
		}
		for _, av := range out.Items {
			pk, ok := av[attrPK].(*types.AttributeValueMemberS)
			if !ok || !strings.HasPrefix(pk.Value, prefix) {
				continue // an emulator that ignores the filter
			}
			ev, err := decodeEvent(op, strings.TrimPrefix(pk.Value, "event#"), av)
			if err != nil {
				return nil, false, err
			}
			if ev.CreatedAt.Before(since.Truncate(time.Millisecond)) {
				continue
			}
			if len(events) == MaxScanEvents {
				truncated = true
				break
			}
			events = append(events, ev)
		}
		if truncated || len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	slices.SortFunc(events, func(a, b EventInfo) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return events, truncated, nil
}
