package store

import (
	"strings"
	"testing"
)

// TestHistoryPlans checks that what a device does on every upload, every
// sync and every Heard reads a bounded part of the database, not the
// whole history the sender has kept: SQLite's own plan must name the
// index that bounds it, no search by sender alone, and no list of a
// subquery's rows.
func TestHistoryPlans(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name  string
		query string
		args  []any
		want  []string // in order, one plan line each
	}{
		{"rate and daily limits", sentSinceQuery, []any{9, "a", 5},
			[]string{"SEARCH messages USING COVERING INDEX messages_sender_created (sender_id=? AND created_at>?)"}},
		{"untold statuses", untoldQuery, []any{0, "a"},
			[]string{"SCAN d USING INDEX deliveries_untold", "SEARCH m USING INDEX sqlite_autoindex_messages_1 (id=?)"}},
		{"waiting messages", waitingQuery, []any{"a"},
			[]string{"SEARCH d USING INDEX deliveries_waiting (recipient_id=?)", "SEARCH m USING INDEX sqlite_autoindex_messages_1 (id=?)"}},
		{"heard, delivered", heardQuery(1), []any{1, "m", "b", "m", "a"},
			[]string{"SEARCH deliveries USING PRIMARY KEY (message_id=? AND recipient_id=?)", "SCALAR SUBQUERY 1", "SEARCH messages USING INDEX sqlite_autoindex_messages_1 (id=?)"}},
		{"heard, played", heardQuery(2), []any{2, "m", "b", "m", "a"},
			[]string{"SEARCH deliveries USING PRIMARY KEY (message_id=? AND recipient_id=?)", "SCALAR SUBQUERY 1", "SEARCH messages USING INDEX sqlite_autoindex_messages_1 (id=?)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows, err := f.s.db.QueryContext(f.ctx, "EXPLAIN QUERY PLAN "+c.query, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(plan, "\n")
			for i, w := range c.want {
				if i >= len(plan) || plan[i] != w {
					t.Fatalf("plan line %d: want %q, plan is\n%s", i, w, got)
				}
			}
			if (strings.Contains(got, "(sender_id=?") && !strings.Contains(got, "created_at>?")) || strings.Contains(got, "SCAN m") ||
				strings.Contains(got, "SCAN messages") || strings.Contains(got, "LIST SUBQUERY") {
				t.Errorf("plan reads by sender alone, or every message, or lists a subquery's rows:\n%s", got)
			}
		})
	}
}
