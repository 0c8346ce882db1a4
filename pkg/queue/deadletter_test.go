package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"
)

func validDLQ() DLQAttributes {
	return DLQAttributes{
		ErrorClass: ClassExhausted, ErrorCode: "http_503", HTTPStatus: 503, Attempts: 5,
		FailedAt: time.Date(2026, 3, 1, 13, 0, 0, 500, time.UTC),
	}
}

func TestDLQAttributesNames(t *testing.T) {
	attrs, err := validDLQ().MessageAttributes(testMessage(t).Attributes())
	require.NoError(t, err)
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	require.ElementsMatch(t, []string{
		"kind", "source", "v", "error_class", "error_code", "http_status", "attempts", "failed_at",
	}, names)
	require.Equal(t, "Number", aws.ToString(attrs["http_status"].DataType))
	require.Equal(t, "503", aws.ToString(attrs["http_status"].StringValue))
	require.Equal(t, "Number", aws.ToString(attrs["attempts"].DataType))
	require.Equal(t, "2026-03-01T13:00:00.0000005Z", aws.ToString(attrs["failed_at"].StringValue))

	parsed, err := ParseDLQAttributes(attrs)
	require.NoError(t, err)
	require.Equal(t, validDLQ(), parsed)
}

func TestDLQAttributesWithoutHTTPStatus(t *testing.T) {
	a := validDLQ()
	a.ErrorClass, a.ErrorCode, a.HTTPStatus, a.Attempts = ClassMalformed, "not_json", 0, 1
	// A malformed message may have no attributes worth keeping.
	attrs, err := a.MessageAttributes(nil)
	require.NoError(t, err)
	require.NotContains(t, attrs, AttrHTTPStatus)
	require.Len(t, attrs, 4)
	parsed, err := ParseDLQAttributes(attrs)
	require.NoError(t, err)
	require.Equal(t, a, parsed)
}

func TestDLQAttributesValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*DLQAttributes)
		attr   string
	}{
		{"free-text class", func(a *DLQAttributes) { a.ErrorClass = "Permanent error" }, AttrErrorClass},
		{"empty class", func(a *DLQAttributes) { a.ErrorClass = "" }, AttrErrorClass},
		{"NovaMed message as code", func(a *DLQAttributes) { a.ErrorCode = "email " + phiMarker + "@x.com already used" }, AttrErrorCode},
		{"upper-case code", func(a *DLQAttributes) { a.ErrorCode = "Clinic_Not_Found" }, AttrErrorCode},
		{"long code", func(a *DLQAttributes) { a.ErrorCode = strings.Repeat("a", 65) }, AttrErrorCode},
		{"status 99", func(a *DLQAttributes) { a.HTTPStatus = 99 }, AttrHTTPStatus},
		{"status 600", func(a *DLQAttributes) { a.HTTPStatus = 600 }, AttrHTTPStatus},
		{"negative attempts", func(a *DLQAttributes) { a.Attempts = -1 }, AttrAttempts},
		{"no failed_at", func(a *DLQAttributes) { a.FailedAt = time.Time{} }, AttrFailedAt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := validDLQ()
			tt.mutate(&a)
			_, err := a.MessageAttributes(nil)
			require.ErrorIs(t, err, ErrInvalidAttributes)
			require.Contains(t, err.Error(), tt.attr)
			require.NotContains(t, err.Error(), phiMarker)
		})
	}
	require.True(t, ValidSlug(strings.Repeat("a", 64)))
}

func TestParseDLQAttributesErrors(t *testing.T) {
	valid := func(t *testing.T) map[string]types.MessageAttributeValue {
		attrs, err := validDLQ().MessageAttributes(nil)
		require.NoError(t, err)
		return attrs
	}
	tests := []struct {
		name   string
		mutate func(map[string]types.MessageAttributeValue)
		attr   string
	}{
		{"no class", func(m map[string]types.MessageAttributeValue) { delete(m, AttrErrorClass) }, AttrErrorClass},
		{"no code", func(m map[string]types.MessageAttributeValue) { delete(m, AttrErrorCode) }, AttrErrorCode},
		{"no attempts", func(m map[string]types.MessageAttributeValue) { delete(m, AttrAttempts) }, AttrAttempts},
		{"no failed_at", func(m map[string]types.MessageAttributeValue) { delete(m, AttrFailedAt) }, AttrFailedAt},
		{"class as Number", func(m map[string]types.MessageAttributeValue) { m[AttrErrorClass] = numberAttr("1") }, AttrErrorClass},
		{"attempts as String", func(m map[string]types.MessageAttributeValue) { m[AttrAttempts] = stringAttr("5") }, AttrAttempts},
		{"attempts not integer", func(m map[string]types.MessageAttributeValue) { m[AttrAttempts] = numberAttr("5.5") }, AttrAttempts},
		{"status free text", func(m map[string]types.MessageAttributeValue) { m[AttrHTTPStatus] = numberAttr(phiMarker) }, AttrHTTPStatus},
		{"failed_at not a time", func(m map[string]types.MessageAttributeValue) { m[AttrFailedAt] = stringAttr(phiMarker) }, AttrFailedAt},
		{"code free text", func(m map[string]types.MessageAttributeValue) { m[AttrErrorCode] = stringAttr(phiMarker + " x") }, AttrErrorCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid(t)
			tt.mutate(m)
			_, err := ParseDLQAttributes(m)
			require.ErrorIs(t, err, ErrInvalidAttributes)
			require.Contains(t, err.Error(), tt.attr)
			require.NotContains(t, err.Error(), phiMarker)
		})
	}
	// Custom Number refinements are accepted.
	m := valid(t)
	m[AttrAttempts] = types.MessageAttributeValue{DataType: aws.String("Number.int"), StringValue: aws.String("5")}
	_, err := ParseDLQAttributes(m)
	require.NoError(t, err)
}

func TestBaseAttributesKeepsOnlyValidBase(t *testing.T) {
	in := testMessage(t).Attributes()
	in["error_class"] = stringAttr("permanent")
	in["note"] = stringAttr(phiMarker)
	require.Equal(t, testMessage(t).Attributes(), BaseAttributes(in))

	bad := map[string]types.MessageAttributeValue{
		AttrKind:    stringAttr("appointment"),
		AttrSource:  stringAttr(phiMarker + " Smith"),
		AttrVersion: stringAttr("1"), // wrong type
	}
	require.Empty(t, BaseAttributes(bad))
	require.Empty(t, BaseAttributes(nil))
}

func TestEventAttributes(t *testing.T) {
	in := map[string]events.SQSMessageAttribute{
		"kind":   {DataType: "String", StringValue: aws.String("patient")},
		"source": {DataType: "String", StringValue: aws.String("ehr-a")},
		"v":      {DataType: "Number", StringValue: aws.String("1")},
		"blob":   {DataType: "Binary", BinaryValue: []byte("x")},
	}
	got := EventAttributes(in)
	require.Len(t, got, 3)
	require.Equal(t, testMessage(t).Attributes(), BaseAttributes(got))
}
