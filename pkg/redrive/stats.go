package redrive

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
)

// Group counts the dead letters of one error class and code.
type Group struct {
	ErrorClass string `json:"error_class"`
	ErrorCode  string `json:"error_code"`
	Count      int    `json:"count"`
	// OldestFailedAt and NewestFailedAt are zero for ClassNone (no failed_at).
	OldestFailedAt time.Time `json:"oldest_failed_at,omitzero"`
	NewestFailedAt time.Time `json:"newest_failed_at,omitzero"`
}

// Stats counts the dead letters of a queue. It holds classes, codes, counts
// and times only, never a record value.
type Stats struct {
	Total          int       `json:"total"`
	OldestFailedAt time.Time `json:"oldest_failed_at,omitzero"`
	NewestFailedAt time.Time `json:"newest_failed_at,omitzero"`
	// Groups are sorted by class, then code.
	Groups []Group `json:"groups"`
	// ReleaseFailed counts messages that could not be made visible again
	// at the end of the pass; SQS releases them at the end of the
	// visibility timeout.
	ReleaseFailed int `json:"release_failed,omitempty"`
}

// Stats reads every message of the DLQ once, counts them by error class and
// code with the oldest and newest failed_at, and makes them visible again.
func (t *Tool) Stats(ctx context.Context) (Stats, error) {
	p := t.newPass()
	groups := map[[2]string]*Group{}
	var st Stats
	err := p.drain(ctx, func() int32 { return 10 }, func(r *received) (bool, error) {
		p.hold(r)
		key := [2]string{r.class(), r.code()}
		g := groups[key]
		if g == nil {
			g = &Group{ErrorClass: key[0], ErrorCode: key[1]}
			groups[key] = g
		}
		g.Count++
		st.Total++
		if r.dlqErr == nil {
			at := r.dlq.FailedAt.UTC()
			g.OldestFailedAt, g.NewestFailedAt = earliest(g.OldestFailedAt, at), latest(g.NewestFailedAt, at)
			st.OldestFailedAt, st.NewestFailedAt = earliest(st.OldestFailedAt, at), latest(st.NewestFailedAt, at)
		}
		return false, nil
	})
	st.ReleaseFailed = p.release(ctx)
	st.Groups = make([]Group, 0, len(groups))
	for _, g := range groups {
		st.Groups = append(st.Groups, *g)
	}
	slices.SortFunc(st.Groups, func(a, b Group) int {
		return cmp.Or(cmp.Compare(a.ErrorClass, b.ErrorClass), cmp.Compare(a.ErrorCode, b.ErrorCode))
	})
	// On an error the counts so far are returned with it.
	return st, err
}

func earliest(cur, t time.Time) time.Time {
	if cur.IsZero() || t.Before(cur) {
		return t
	}
	return cur
}

func latest(cur, t time.Time) time.Time {
	if cur.IsZero() || t.After(cur) {
		return t
	}
	return cur
}

// WriteTable writes the stats as an aligned table.
func (s Stats) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ERROR_CLASS\tERROR_CODE\tCOUNT\tOLDEST_FAILED_AT\tNEWEST_FAILED_AT")
	for _, g := range s.Groups {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", g.ErrorClass, g.ErrorCode, g.Count, timeCell(g.OldestFailedAt), timeCell(g.NewestFailedAt))
	}
	fmt.Fprintf(tw, "TOTAL\t\t%d\t%s\t%s\n", s.Total, timeCell(s.OldestFailedAt), timeCell(s.NewestFailedAt))
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.ReleaseFailed > 0 {
		_, err := fmt.Fprintln(w, "note: "+strconv.Itoa(s.ReleaseFailed)+" messages could not be made visible again; SQS releases them at the end of the visibility timeout")
		return err
	}
	return nil
}

// WriteJSON writes the stats as one JSON object.
func (s Stats) WriteJSON(w io.Writer) error { return writeJSON(w, s) }

func timeCell(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
