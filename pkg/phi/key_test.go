package phi

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePseudonymKey(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcdef")
	cases := []struct {
		name  string
		param string
		want  []byte
		err   error
	}{
		{"standard", base64.StdEncoding.EncodeToString(raw), raw, nil},
		{"no padding", base64.RawStdEncoding.EncodeToString(raw[:17]), raw[:17], nil},
		{"url alphabet", base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb}), []byte{0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb}, nil},
		{"trailing newline", base64.StdEncoding.EncodeToString(raw) + "\n", raw, nil},
		{"too short", base64.StdEncoding.EncodeToString(raw[:8]), nil, ErrShortKey},
		{"not base64", "this is a passphrase!", nil, ErrKeyEncoding},
		{"empty", "", nil, ErrShortKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParsePseudonymKey(c.param)
			if c.err != nil {
				require.ErrorIs(t, err, c.err)
				if c.param != "" {
					assert.NotContains(t, err.Error(), c.param)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestNewGuardFromParametersMatchesTheHMACGuard(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcdef")
	clinic := "7d3c1f0a-1111-4222-8333-444455556666"
	fromParams, err := NewGuardFromParameters(base64.StdEncoding.EncodeToString(raw), clinic)
	require.NoError(t, err)
	p, err := NewHMACPseudonymizer(raw)
	require.NoError(t, err)
	direct, err := New(p, clinic)
	require.NoError(t, err)

	in := []byte(`{"clinic_id":"7d3c1f0a-1111-4222-8333-444455556666","first_name":"Marguerite","last_name":"Okonkwo","date_of_birth":"1980-04-02","email":"m.okonkwo@mail.test"}`)
	a, _, err := fromParams.DeidentifyJSON("patient", in)
	require.NoError(t, err)
	b, _, err := direct.DeidentifyJSON("patient", in)
	require.NoError(t, err)
	assert.Equal(t, *b.Patient, *a.Patient, "intake, dispatch and redrive derive the same pseudonyms")

	_, err = NewGuardFromParameters("not base64!", clinic)
	assert.ErrorIs(t, err, ErrKeyEncoding)
}
