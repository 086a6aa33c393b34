package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vpnbill/vpnbill/internal/ops"
)

// table writes aligned columns.
type table struct{ w *tabwriter.Writer }

func (t *table) row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = cell(c)
	}
	fmt.Fprintln(t.w, strings.Join(s, "\t"))
}

func cell(c any) string {
	switch v := c.(type) {
	case time.Time:
		return formatTime(v)
	case string:
		if v == "" {
			return "-"
		}
		return strings.NewReplacer("\t", " ", "\n", " ").Replace(v)
	default:
		return fmt.Sprint(v)
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// print writes v as JSON with --json, else the table fill draws.
func (a *app) print(v any, fill func(t *table)) error {
	if a.json {
		enc := json.NewEncoder(a.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	t := &table{w: tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)}
	fill(t)
	return t.w.Flush()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func sortedKeys(h nats.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// amount renders minor units as 12.34 (currencies with two decimals; the
// raw minor units are in the csv and json outputs).
func amount(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
}

// seats is a row's seats, empty where the payment's audit does not say.
func seats(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func printReport(w io.Writer, rep ops.Report, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "csv":
		return ops.WriteReportCSV(w, rep) // the one CSV layout, the console's too
	default:
		t := &table{w: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
		cols := []any{"STATUS", "TIME", "ACCOUNT", "INVOICE/CHECKOUT", "EMAIL", "PLAN", "AMOUNT", "PAID TO", "PROVIDER", "USERNAME", "DELIVERED TO",
			"MODE", "SEATS"}
		t.row(cols...)
		for _, r := range rep.Rows {
			ref := r.Invoice
			if ref == "" {
				ref = r.CheckoutSession
			}
			money := "-"
			if r.Currency != "" {
				money = amount(r.Amount) + " " + strings.ToUpper(r.Currency)
				if r.Refunded > 0 {
					money += " (refunded " + amount(r.Refunded) + ")"
				}
			}
			t.row(r.Status, r.Time, r.Account, ref, r.Email, r.Plan, money, r.PaidTo, r.Provider, r.Username, r.DeliveredTo, r.Mode, seats(r.Seats))
		}
		if err := t.w.Flush(); err != nil {
			return err
		}
		payments := 0
		for _, tot := range rep.Totals {
			payments += tot.Payments
		}
		only := ""
		if rep.Mode != "" {
			only = ", " + rep.Mode + " mode only"
		}
		fmt.Fprintf(w, "\nfrom %s to %s%s: %d payments, %d mismatches\n", formatTime(rep.From), formatTime(rep.To), only, payments, rep.Mismatches)
		for _, tot := range rep.Totals {
			refunds := ""
			if tot.Refunded > 0 {
				refunds = ", of it refunded " + amount(tot.Refunded)
			}
			fmt.Fprintf(w, "%s mode total %s: %s (%d payments)%s\n", tot.Mode, strings.ToUpper(tot.Currency), amount(tot.Amount), tot.Payments, refunds)
		}
		return nil
	}
}
