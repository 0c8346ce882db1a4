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

// SubjectState is a subject's stored state; see the package doc, "Subjects".
type SubjectState string

// Stored subject states.
const (
	// SubjectCreating: a record (the owner) holds a claim and may be
	// creating the person's chart.
	SubjectCreating SubjectState = "creating"
	// SubjectCreated: NovaMed holds the person's chart; novamed_id is it.
	SubjectCreated SubjectState = "created"
	// SubjectUnconfirmed: the owner's attempt may have created the chart;
	// waits for an operator (who resolves the owner record).
	SubjectUnconfirmed SubjectState = "unconfirmed"
)

// SubjectStatus is the answer of ClaimSubject.
type SubjectStatus int

// The answers of ClaimSubject.
const (
	// SubjectGranted: this record creates the person's chart.
	SubjectGranted SubjectStatus = iota + 1
	// SubjectExists: the person has a chart (SubjectClaim.NovaMedID); do
	// not create another. Compare SubjectClaim.Fields with the record's.
	SubjectExists
	// SubjectInFlight: another record is creating the chart right now;
	// retry after SubjectClaim.ClaimedUntil.
	SubjectInFlight
	// SubjectUnknown: an earlier creation may have reached NovaMed without
	// an answer; do not call NovaMed until an operator resolves it.
	SubjectUnknown
)

func (s SubjectStatus) String() string {
	switch s {
	case SubjectGranted:
		return "granted"
	case SubjectExists:
		return "exists"
	case SubjectInFlight:
		return "in_flight"
	case SubjectUnknown:
		return "unconfirmed"
	default:
		return "unknown"
	}
}

// SubjectClaim is the answer of ClaimSubject. It holds ids and keyed
// digests, never a value, and may be logged.
type SubjectClaim struct {
	Status SubjectStatus
	// NovaMedID is the chart's id (SubjectExists).
	NovaMedID string
	// Fields are the keyed digests of the chart's fields as created, by
	// NovaMed field name (SubjectExists).
	Fields map[string]string
	// Owner is the record that created (or is creating) the chart.
	Owner string
	// ClaimedUntil is when the owner's claim ends (SubjectInFlight).
	ClaimedUntil time.Time
}

// SubjectInfo is a subject's entry, for operators.
type SubjectInfo struct {
	Subject   string
	State     SubjectState
	Owner     string
	NovaMedID string
	// Fields are the names of the fields the chart was created with.
	Fields       []string
	ClaimedUntil time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Subject attributes (in addition to the shared vocabulary).
const (
	attrOwner   = "owner"
	attrDigests = "digests"
	attrSubject = "subject"
)

func subjectKey(subject string) string { return "subject#" + subject }

// ClaimSubject claims the right to create subject's NovaMed chart for
// recordID, or reports that the chart exists (or is being created). fields
// are keyed digests of the record's fields (never values): stored with the
// claim, they are what later records of the subject are compared with.
//
// Subject items never expire: a person updated a year later is still the
// same person, and NovaMed keeps the chart. The record item is marked with
// its subject first, so operators can look the subject up by record id and
// resolving the record resolves the subject.
//
// Of any number of concurrent claims of one subject exactly one is granted.
// The owner may claim again (a retry of the same record) and is granted
// again while the subject is creating.
func (l *Ledger) ClaimSubject(ctx context.Context, subject, recordID string, fields map[string]string) (SubjectClaim, error) {
	const op = "ClaimSubject"
	if err := checkID("subject", subject); err != nil {
		return SubjectClaim{}, err
	}
	if err := checkID("record id", recordID); err != nil {
		return SubjectClaim{}, err
	}
	if err := l.markRecordSubject(ctx, recordID, subject); err != nil {
		return SubjectClaim{}, err
	}
	pk := subjectKey(subject)
	digests := make(map[string]types.AttributeValue, len(fields))
	for k, v := range fields {
		digests[k] = str(v)
	}
	for range maxRounds {
		c := l.clock()
		until := c.nowMS + l.lease.Milliseconds()
		_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(l.table),
			Key:       key(pk),
			UpdateExpression: aws.String("SET #state = :creating, #owner = :rec, #digests = :dig, #claim = :until, " +
				"#created = if_not_exists(#created, :now), #updated = :now"),
			ConditionExpression: aws.String("attribute_not_exists(#pk) OR (#state = :creating AND #owner = :rec)"),
			ExpressionAttributeNames: map[string]string{
				"#pk": attrPK, "#state": attrState, "#owner": attrOwner, "#digests": attrDigests,
				"#claim": attrClaim, "#created": attrCreated, "#updated": attrUpdated,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":creating": str(string(SubjectCreating)),
				":rec":      str(recordID),
				":dig":      &types.AttributeValueMemberM{Value: digests},
				":until":    num(until),
				":now":      num(c.nowMS),
			},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return SubjectClaim{Status: SubjectGranted, Owner: recordID, ClaimedUntil: msToTime(until)}, nil
		}
		returned, ok := conditionFailed(err)
		if !ok {
			return SubjectClaim{}, unavailable(op, err)
		}
		av, err := l.current(ctx, op, pk, returned)
		if err != nil {
			return SubjectClaim{}, err
		}
		if av == nil {
			continue // released in between: claim again
		}
		s, err := decodeSubject(op, subject, av)
		if err != nil {
			return SubjectClaim{}, err
		}
		switch s.info.State {
		case SubjectCreated:
			return SubjectClaim{Status: SubjectExists, NovaMedID: s.info.NovaMedID, Fields: s.digests, Owner: s.info.Owner}, nil
		case SubjectUnconfirmed:
			return SubjectClaim{Status: SubjectUnknown, Owner: s.info.Owner}, nil
		case SubjectCreating:
			if s.claim > c.nowMS {
				return SubjectClaim{Status: SubjectInFlight, Owner: s.info.Owner, ClaimedUntil: msToTime(s.claim)}, nil
			}
			// The owner outlived its claim without an outcome: it crashed,
			// perhaps after calling NovaMed. Record that; the owner record
			// is unconfirmed by the same rule, and resolving it resolves
			// this subject.
			done, err := l.subjectUpdate(ctx, op, pk, "#state = :creating AND #claim = :observed",
				"SET #state = :unconfirmed, #updated = :now REMOVE #claim",
				map[string]types.AttributeValue{
					":creating": str(string(SubjectCreating)), ":unconfirmed": str(string(SubjectUnconfirmed)),
					":observed": num(s.claim), ":now": num(c.nowMS),
				})
			if err != nil {
				return SubjectClaim{}, err
			}
			if done {
				return SubjectClaim{Status: SubjectUnknown, Owner: s.info.Owner}, nil
			}
		default:
			return SubjectClaim{}, &StateError{Op: op, State: string(s.info.State)}
		}
	}
	return SubjectClaim{}, &UnavailableError{Op: op, Code: "Contention"}
}

// markRecordSubject notes the subject on the record's item (which
// ClaimDelivery created).
func (l *Ledger) markRecordSubject(ctx context.Context, recordID, subject string) error {
	const op = "ClaimSubject"
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(l.table),
		Key:                      key(recordKey(recordID)),
		UpdateExpression:         aws.String("SET #subject = :s"),
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#subject": attrSubject},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": str(subject),
		},
	})
	if err == nil {
		return nil
	}
	if _, ok := conditionFailed(err); ok {
		return fmt.Errorf("ledger: %s: the record is not claimed: %w", op, ErrNotFound)
	}
	return unavailable(op, err)
}

// MarkSubjectCreated records that recordID created subject's chart as
// novamedID. Repeating it is a no-op.
func (l *Ledger) MarkSubjectCreated(ctx context.Context, subject, recordID, novamedID string) error {
	const op = "MarkSubjectCreated"
	if err := checkID("novamed id", novamedID); err != nil {
		return err
	}
	c := l.clock()
	return l.subjectTransition(ctx, op, subject,
		"(#state IN (:creating, :unconfirmed) AND #owner = :rec) OR (#state = :created AND #nmid = :id)",
		"SET #state = :created, #nmid = :id, #updated = :now REMOVE #claim",
		map[string]types.AttributeValue{
			":creating": str(string(SubjectCreating)), ":unconfirmed": str(string(SubjectUnconfirmed)),
			":created": str(string(SubjectCreated)), ":rec": str(recordID), ":id": str(novamedID), ":now": num(c.nowMS),
		})
}

// ReleaseSubject removes subject when recordID's attempt certainly created
// nothing (or an operator found nothing in NovaMed), so the next record of
// the person may create the chart. Releasing an absent subject is a no-op.
func (l *Ledger) ReleaseSubject(ctx context.Context, subject, recordID string) error {
	const op = "ReleaseSubject"
	if err := checkID("subject", subject); err != nil {
		return err
	}
	_, err := l.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(l.table),
		Key:                      key(subjectKey(subject)),
		ConditionExpression:      aws.String("attribute_not_exists(#pk) OR (#state IN (:creating, :unconfirmed) AND #owner = :rec)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#state": attrState, "#owner": attrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":creating": str(string(SubjectCreating)), ":unconfirmed": str(string(SubjectUnconfirmed)), ":rec": str(recordID),
		},
	})
	if err == nil {
		return nil
	}
	if _, ok := conditionFailed(err); ok {
		return &StateError{Op: op, State: "not_owner"}
	}
	return unavailable(op, err)
}

// MarkSubjectUnconfirmed records that recordID's attempt may have created
// subject's chart without an answer. Repeating it is a no-op.
func (l *Ledger) MarkSubjectUnconfirmed(ctx context.Context, subject, recordID string) error {
	const op = "MarkSubjectUnconfirmed"
	c := l.clock()
	return l.subjectTransition(ctx, op, subject,
		"#state IN (:creating, :unconfirmed) AND #owner = :rec",
		"SET #state = :unconfirmed, #updated = :now REMOVE #claim",
		map[string]types.AttributeValue{
			":creating": str(string(SubjectCreating)), ":unconfirmed": str(string(SubjectUnconfirmed)),
			":rec": str(recordID), ":now": num(c.nowMS),
		})
}

// Subject returns subject's entry, or ErrNotFound.
func (l *Ledger) Subject(ctx context.Context, subject string) (SubjectInfo, error) {
	const op = "Subject"
	if err := checkID("subject", subject); err != nil {
		return SubjectInfo{}, err
	}
	av, err := l.get(ctx, op, subjectKey(subject))
	if err != nil {
		return SubjectInfo{}, err
	}
	if av == nil {
		return SubjectInfo{}, fmt.Errorf("ledger: %s: %w", op, ErrNotFound)
	}
	s, err := decodeSubject(op, subject, av)
	if err != nil {
		return SubjectInfo{}, err
	}
	return s.info, nil
}

// RecordSubject returns the subject a record was delivered under (empty
// when it had none), or ErrNotFound for an unknown record.
func (l *Ledger) RecordSubject(ctx context.Context, recordID string) (string, error) {
	const op = "RecordSubject"
	if err := checkID("record id", recordID); err != nil {
		return "", err
	}
	av, err := l.get(ctx, op, recordKey(recordID))
	if err != nil {
		return "", err
	}
	if av == nil {
		return "", fmt.Errorf("ledger: %s: %w", op, ErrNotFound)
	}
	if v, ok := av[attrSubject].(*types.AttributeValueMemberS); ok {
		return v.Value, nil
	}
	return "", nil
}

// subjectTransition runs a conditional update of subject; a failed
// condition is a *StateError naming the state found (ErrNotFound when
// absent).
func (l *Ledger) subjectTransition(ctx context.Context, op, subject, cond, update string, values map[string]types.AttributeValue) error {
	if err := checkID("subject", subject); err != nil {
		return err
	}
	pk := subjectKey(subject)
	done, err := l.subjectUpdate(ctx, op, pk, cond, update, values)
	if err != nil || done {
		return err
	}
	av, err := l.get(ctx, op, pk)
	if err != nil {
		return err
	}
	if av == nil {
		return fmt.Errorf("ledger: %s: %w", op, ErrNotFound)
	}
	s, err := decodeSubject(op, subject, av)
	if err != nil {
		return err
	}
	return &StateError{Op: op, State: string(s.info.State)}
}

// subjectUpdate applies a conditional update to a subject item; false means
// the condition failed.
func (l *Ledger) subjectUpdate(ctx context.Context, op, pk, cond, update string, values map[string]types.AttributeValue) (bool, error) {
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(l.table),
		Key:                 key(pk),
		UpdateExpression:    aws.String(update),
		ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: filterNames(cond+" "+update, map[string]string{
			"#state": attrState, "#owner": attrOwner, "#claim": attrClaim, "#updated": attrUpdated, "#nmid": attrNovaMedID,
		}),
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

// filterNames keeps the placeholders an expression uses.
func filterNames(expr string, all map[string]string) map[string]string {
	out := map[string]string{}
	for p, n := range all {
		if containsWord(expr, p) {
			out[p] = n
		}
	}
	return out
}

func containsWord(s, w string) bool {
	for i := strings.Index(s, w); i >= 0; {
		end := i + len(w)
		if end == len(s) || !isNameChar(s[end]) {
			return true
		}
		next := strings.Index(s[end:], w)
		if next < 0 {
			return false
		}
		i = end + next
	}
	return false
}

func isNameChar(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

type subjectItem struct {
	info    SubjectInfo
	claim   int64
	digests map[string]string
}

func decodeSubject(op, subject string, av map[string]types.AttributeValue) (subjectItem, error) {
	it, err := decode(op, av)
	if err != nil {
		return subjectItem{}, err
	}
	s := subjectItem{claim: it.claim, digests: map[string]string{}}
	s.info = SubjectInfo{
		Subject: subject, State: SubjectState(it.state), NovaMedID: it.novamedID,
		CreatedAt: msToTime(it.created), UpdatedAt: msToTime(it.updated),
	}
	if it.hasClaim {
		s.info.ClaimedUntil = msToTime(it.claim)
	}
	if v, ok := av[attrOwner].(*types.AttributeValueMemberS); ok {
		s.info.Owner = v.Value
	}
	if m, ok := av[attrDigests].(*types.AttributeValueMemberM); ok {
		for k, v := range m.Value {
			if sv, ok := v.(*types.AttributeValueMemberS); ok {
				s.digests[k] = sv.Value
				s.info.Fields = append(s.info.Fields, k)
			}
		}
	}
	slices.Sort(s.info.Fields)
	return s, nil
}
